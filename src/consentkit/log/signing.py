"""Ed25519 keys that sign the consent log, so anyone can verify it with a public key.

A writer signs the head of every batch it commits (off the per-decision
path) and checkpoints sign everything stored. The private key stays with the
site; the public key is published, and verifying needs nothing else.

Keys are PEM files (PKCS#8 private key, SubjectPublicKeyInfo public key). A
key is known by its key id: the first 16 hex digits of the SHA-256 of its raw
32-byte public key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consentkit.errors import ConsentKitError

__all__ = [
    "SIGNING_KEY_ENV",
    "KeyFileError",
    "PublicKey",
    "SigningKey",
    "derive_signing_key",
    "generate_key_files",
    "load_public_key",
    "load_signing_key",
]

#: The environment variable naming the private key file of the log's signing key.
SIGNING_KEY_ENV = "CONSENTKIT_LOG_SIGNING_KEY"


class KeyFileError(ConsentKitError):
    """A key file is missing, unreadable or not an Ed25519 key of the right kind."""


def _key_id(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:16]


def b64(data: bytes) -> str:
    """Unpadded base64url, the encoding of signatures and raw keys in log documents."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``; ValueError when malformed."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


class PublicKey:
    """An Ed25519 public key that checks the log's signatures."""

    __slots__ = ("_key", "key_id", "raw")

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = _key_id(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey(key_id={self.key_id!r})"

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        """The key whose raw 32 bytes are ``raw``."""
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    def verify(self, signature: str, message: bytes) -> bool:
        """Whether ``signature`` (base64url) is this key's signature of ``message``."""
        try:
            self._key.verify(unb64(signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def pem(self) -> bytes:
        """The key as a PEM SubjectPublicKeyInfo file."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class SigningKey:
    """An Ed25519 private key that signs the log; ``repr`` shows only its key id."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())

    @property
    def key_id(self) -> str:
        """The id of this key (that of its public key)."""
        return self.public.key_id

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    def sign(self, message: bytes) -> str:
        """The signature of ``message``, base64url."""
        return b64(self._key.sign(message))

    def private_pem(self) -> bytes:
        """The private key as an unencrypted PKCS#8 PEM file."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def derive_signing_key(log_secret: bytes) -> SigningKey:
    """The default signing key: derived from the log key's secret with a fixed label.

    Whoever holds the site's log key (or secret keys) can make it, so it
    proves authorship only as far as that secret is kept; the public key is
    still all a verifier needs. A key file of its own is better (see docs).
    """
    seed = hmac.new(log_secret, b"consentkit.log.ed25519.v1", hashlib.sha256).digest()
    return SigningKey(Ed25519PrivateKey.from_private_bytes(seed))


def generate_key_files(
    private_path: str | os.PathLike[str], public_path: str | os.PathLike[str]
) -> SigningKey:
    """Make a new key pair: the private key file is created with mode 0600, never overwritten."""
    key = SigningKey(Ed25519PrivateKey.generate())
    private = Path(private_path)
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{str(private)!r} exists: not overwriting a key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {str(private)!r}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(key.private_pem())
    try:
        Path(public_path).write_bytes(key.public.pem())
    except OSError as exc:
        raise KeyFileError(f"cannot write {str(public_path)!r}: {exc.strerror}") from None
    return key


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None


def load_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    """The private key in the PEM file at ``path``."""
    data = _read(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(
            f"{str(path)!r} is not an unencrypted PEM private key (make one with"
            " 'consentkit log keygen')"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{str(path)!r} is not an Ed25519 key")
    return SigningKey(key)


def load_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """The public key in the PEM file at ``path`` (a private key file gives its public half)."""
    data = _read(path, "public key")
    if b"PRIVATE KEY" in data:
        return load_signing_key(path).public
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(f"{str(path)!r} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{str(path)!r} is not an Ed25519 key")
    return PublicKey(key)
