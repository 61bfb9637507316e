"""One rule, for the middleware and the command line alike, for the log's keys.

The HMAC log key: an explicit key (``ConsentConfig.log_key`` or
``--log-key``), else ``CONSENTKIT_LOG_KEY``, else derived from the secret keys
(the first one signs; the command line tries every one, for records made
before a rotation).

The Ed25519 signing key: a key file (``ConsentConfig.log_signing_key`` or
``--signing-key``), else the file named by ``CONSENTKIT_LOG_SIGNING_KEY``,
else derived from the log key the rule above gives.

A verifier needs neither: ``--public-key FILE`` is enough. Without one, the
command line uses the public half of the signing key found by the same rule,
and says which sources it tried.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from consentkit.log.chain import LogKey, derive_log_key
from consentkit.log.signing import (
    SIGNING_KEY_ENV,
    PublicKey,
    SigningKey,
    derive_signing_key,
    load_public_key,
    load_signing_key,
)

__all__ = ["LOG_KEY_ENV", "KeySet", "log_key_for", "resolve_keys", "signing_key_for"]

#: The environment variable holding the HMAC log key.
LOG_KEY_ENV = "CONSENTKIT_LOG_KEY"


def log_key_for(log_key: str | None, secret_keys: Sequence[str]) -> LogKey:
    """The log key a writer signs with (the middleware's rule)."""
    explicit = log_key or os.environ.get(LOG_KEY_ENV)
    if explicit:
        return derive_log_key(explicit)
    return derive_log_key(secret_keys[0])


def signing_key_for(signing_key_file: str | None, log_key: LogKey) -> SigningKey:
    """The Ed25519 key a writer signs batch heads and checkpoints with."""
    path = signing_key_file or os.environ.get(SIGNING_KEY_ENV)
    if path:
        return load_signing_key(path)
    return derive_signing_key(log_key.secret)


@dataclass(slots=True)
class KeySet:
    """The keys a command found, and where it looked (for its messages)."""

    log_keys: list[LogKey] = field(default_factory=list)
    public_keys: list[PublicKey] = field(default_factory=list)
    signing_key: SigningKey | None = None
    tried: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The sources tried, for a person."""
        return "; ".join(self.tried) if self.tried else "no key source"


def resolve_keys(
    *,
    log_key: str | None = None,
    config_log_key: str | None = None,
    config_secret_keys: Sequence[str] = (),
    signing_key_file: str | None = None,
    public_key_files: Sequence[str] = (),
    use_environment: bool = True,
) -> KeySet:
    """Every key the command line may use, by the rule of this module.

    ``config_*`` come from ``--config``; the environment is read when
    ``use_environment``. Raises `KeyFileError` for a key file that cannot be read.
    """
    found = KeySet()
    env_log_key = os.environ.get(LOG_KEY_ENV) if use_environment else None
    env_secrets = (
        [k.strip() for k in os.environ.get("CONSENTKIT_SECRET_KEYS", "").split(",") if k.strip()]
        if use_environment
        else []
    )
    if log_key:
        found.log_keys = [derive_log_key(log_key)]
        found.tried.append("log key from --log-key")
    elif config_log_key:
        found.log_keys = [derive_log_key(config_log_key)]
        found.tried.append("log key from the configuration's log_key")
    elif env_log_key:
        found.log_keys = [derive_log_key(env_log_key)]
        found.tried.append(f"log key from {LOG_KEY_ENV}")
    elif config_secret_keys:
        found.log_keys = [derive_log_key(k) for k in config_secret_keys]
        found.tried.append(
            f"log keys derived from the configuration's {len(config_secret_keys)} secret key(s)"
        )
    elif env_secrets:
        found.log_keys = [derive_log_key(k) for k in env_secrets]
        found.tried.append(f"log keys derived from CONSENTKIT_SECRET_KEYS ({len(env_secrets)})")
    else:
        found.tried.append(
            f"no log key (--log-key, --config, {LOG_KEY_ENV}, CONSENTKIT_SECRET_KEYS all unset)"
        )
    env_signing = os.environ.get(SIGNING_KEY_ENV) if use_environment else None
    if signing_key_file:
        found.signing_key = load_signing_key(signing_key_file)
        found.tried.append(f"signing key file {signing_key_file}")
    elif env_signing:
        found.signing_key = load_signing_key(env_signing)
        found.tried.append(f"signing key file from {SIGNING_KEY_ENV}")
    elif found.log_keys:
        found.signing_key = derive_signing_key(found.log_keys[0].secret)
    for path in public_key_files:
        found.public_keys.append(load_public_key(path))
    if public_key_files:
        found.tried.append(f"public key file(s) {', '.join(public_key_files)}")
    else:
        publics = {}
        if found.signing_key is not None and (signing_key_file or env_signing):
            publics[found.signing_key.key_id] = found.signing_key.public
        for key in found.log_keys:
            derived = derive_signing_key(key.secret).public
            publics.setdefault(derived.key_id, derived)
        found.public_keys = list(publics.values())
        if found.public_keys:
            found.tried.append(
                "public keys: the halves of the signing key(s) above (no --public-key given)"
            )
    return found
