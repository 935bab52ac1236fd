"""Reading YAML config files and turning pydantic validation errors into messages that name the key and flag."""

from pathlib import Path

import yaml
from pydantic import ValidationError

from adaptlab.errors import ConfigError


def read_yaml(path: Path) -> dict:
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    return {key.replace("-", "_"): value for key, value in loaded.items()}


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{key} (--{key.split('.')[0].replace('_', '-')}): {message}" if error["loc"] else message)
    return "; ".join(lines)
