"""serve_config/log4j2.xml: every TorchServe log rolls by size with a cap, and lines go out once."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from tools.paths import SERVE_CONFIG_DIR
from tools.torchserve import ServerConfig

CONFIG = ElementTree.parse(SERVE_CONFIG_DIR / "log4j2.xml").getroot()


def test_the_launcher_passes_this_file_to_torchserve():
    assert ServerConfig().log_config == SERVE_CONFIG_DIR / "log4j2.xml"


def test_every_file_rolls_by_size_and_keeps_few_archives():
    files = CONFIG.findall("./Appenders/RollingFile")
    assert {f.get("name") for f in files} >= {"access_log", "ts_log", "model_log"}
    for appender in files:
        size = appender.find("SizeBasedTriggeringPolicy").get("size")
        number, unit = size.split()
        assert unit == "MB" and int(number) <= 10, appender.get("name")
        assert int(appender.find("DefaultRolloverStrategy").get("max")) <= 3
        assert appender.find("TimeBasedTriggeringPolicy") is None  # a day's traffic is no cap


def test_named_loggers_do_not_repeat_their_lines_through_the_root_logger():
    for logger in CONFIG.findall("./Loggers/Logger"):
        if logger.findall("AppenderRef"):
            assert logger.get("additivity") == "false", logger.get("name")


def test_the_console_only_gets_warnings():
    console = CONFIG.find("./Appenders/Console")
    assert console.find("ThresholdFilter").get("level") == "warn"
