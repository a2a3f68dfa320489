"""Personal settings: one pydantic-settings class, ``GOVERN_`` variables, an optional TOML file.

Only what belongs to the person lives here: the catalogue URL, where their key and the
organisation's card-signing key are, the theme, and limits protecting their machine. The
rules that decide whether an action is allowed (approvals by tier, policy bindings, roles,
waiver limits...) are governance settings held in the catalogue (``govern settings apply``);
naming one here is an error, so nobody believes their config changes them.

Precedence, highest first: explicit overrides (command-line options), ``GOVERN_*`` environment
variables, the TOML config file (``GOVERN_CONFIG_FILE``, else ``$GOVERN_HOME/config.toml``),
then the defaults below.
"""

from __future__ import annotations

import getpass
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from govern.domain.governance import GovernanceSettings
from govern.errors import ConfigError
from govern.locations import default_home

DEFAULT_DATABASE_URL = "sqlite:///govern.db"
#: The largest a size limit may be set to: larger than any file, small enough for read(n).
MAX_LIMIT = 2**62


class Settings(BaseSettings):
    """Everything configurable in govern. Each field has a ``GOVERN_<FIELD>`` variable."""

    model_config = SettingsConfigDict(
        env_prefix="GOVERN_", extra="forbid", validate_default=True, frozen=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    user: str = ""
    home: Path = Field(default_factory=default_home)
    #: The person's own key (``govern keys init``); default ``$GOVERN_HOME/identity``.
    key_dir: Path | None = None
    key_passphrase: SecretStr | None = None
    #: The organisation's card-signing key (``govern keys org init``); default
    #: ``$GOVERN_HOME/keys``, where govern kept its one instance key before.
    org_key_dir: Path | None = None
    org_key_passphrase: SecretStr | None = None
    #: Signer (or CA) certificates that ``govern verify`` trusts besides the instance's own.
    #: In the environment: paths separated by ``os.pathsep`` (like PATH), or a JSON list.
    trusted_certificates: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    template_dir: Path | None = None
    debug: bool = False

    #: How large a file this machine reads at most (protecting it, not deciding anything).
    max_card_bytes: int = Field(default=1_000_000, ge=1, le=MAX_LIMIT)
    max_policy_bytes: int = Field(default=1_000_000, ge=1, le=MAX_LIMIT)
    max_data_bytes: int = Field(default=2_000_000_000, ge=1, le=MAX_LIMIT)
    #: What a hostile model archive (skops, zip) may cost this machine's memory: how large it
    #: may unpack to, and how much more than its compressed size each member may. (What an
    #: evaluation may add to the shared catalogue is a governance setting.)
    max_unpacked_bytes: int = Field(default=1_000_000_000, ge=1, le=MAX_LIMIT)
    max_compression_ratio: int = Field(default=200, ge=1, le=MAX_LIMIT)
    #: How long a command waits, in all, for the catalogue's write lock while others write.
    lock_wait_seconds: float = Field(default=120.0, gt=0, le=86_400, allow_inf_nan=False)
    #: The terminal app's colours: ``dark`` or ``light``.
    theme: Literal["dark", "light"] = "dark"

    @field_validator("trusted_certificates", mode="before")
    @classmethod
    def _path_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.split(os.pathsep) if part.strip()]
        return value

    @field_validator("user")
    @classmethod
    def _strip_user(cls, value: str) -> str:
        value = value.strip()
        # The catalogue stores actors in 100-character columns; PostgreSQL enforces that.
        if len(value) > 100 or not value.isprintable():
            raise ValueError("a user name is at most 100 printable characters")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = config_file_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def resolved_key_dir(self) -> Path:
        """Where the person's own key lives."""
        return self.key_dir if self.key_dir is not None else self.home / "identity"

    @property
    def resolved_org_key_dir(self) -> Path:
        """Where the organisation's card-signing key lives on this machine."""
        return self.org_key_dir if self.org_key_dir is not None else self.home / "keys"

    @property
    def actor(self) -> str:
        """Who is acting: ``--user``, ``GOVERN_USER``, else the OS login name."""
        if self.user:
            return self.user
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no login name, e.g. in a bare container
            return f"uid-{os.getuid()}"


def config_file_path() -> Path | None:
    explicit = os.environ.get("GOVERN_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("GOVERN_HOME")
    candidate = (Path(home) if home else default_home()) / "config.toml"
    return candidate if candidate.is_file() else None


#: Governance settings live in the catalogue; a person's config naming one is refused.
GOVERNANCE_KEYS = frozenset(GovernanceSettings.model_fields) - {"schema_"}


def _refuse_governance(
    toml: dict[str, Any], toml_file: Path | None, overrides: dict[str, Any]
) -> None:
    named = sorted(
        [
            f"GOVERN_{key.upper()}"
            for key in GOVERNANCE_KEYS
            if f"GOVERN_{key.upper()}" in os.environ
        ]
        + [f"{key} in {toml_file}" for key in GOVERNANCE_KEYS if key in toml]
        + [key for key in GOVERNANCE_KEYS if key in overrides]
    )
    if named:
        raise ConfigError(
            f"{named[0]}: this is a governance setting, held in the catalogue so that nobody's "
            "own configuration changes the rules; remove it here, and an admin changes it with "
            "`govern settings apply FILE`"
        )


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning any problem into a one-line :class:`ConfigError`."""
    given = {key: value for key, value in overrides.items() if value is not None}
    toml_file = config_file_path()
    toml = _check_toml(toml_file) if toml_file is not None else {}
    _refuse_governance(toml, toml_file, given)
    try:
        return Settings(**given)
    except SettingsError as exc:  # a GOVERN_* list or mapping that is not valid JSON
        raise ConfigError(f"{_one_line(exc)} (lists and mappings are JSON)") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"setting {field or '?'}: {first['msg'].removeprefix('Value error, ')} (from "
            f"GOVERN_{field.upper()}, the config file or the command line)"
        ) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (GOVERN_CONFIG_FILE)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise ConfigError(f"{path}: not valid TOML: a number has too many digits") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
