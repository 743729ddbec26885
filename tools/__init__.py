"""Host-side tools: the TorchServe launcher, the archive builder, `make run`'s supervisor, the
folder scorer and the small modules they share. Nothing here ships in the .mar or the UI image."""
