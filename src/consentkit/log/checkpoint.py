"""Signed checkpoints of the whole consent log, and the sinks that keep them.

A checkpoint states, signed with the log's Ed25519 key: every chain's signed
head (seq, Merkle root, MAC), the set of stored declaration hashes, the purge
statements so far, and one Merkle root over the chain heads. Kept somewhere
the operator does not control, it makes any later rewrite of what it covers
detectable: a deleted chain, a cut tail, rewritten history, a forged purge or
a deleted declaration.

Document (``format`` ``consentkit-log-checkpoint/2``)::

    {"format": ..., "statement": {...}, "signature": "<base64url Ed25519>",
     "chains": {chain_id: {"seq", "root", "mac", "timestamp", "key_id", "signature"}},
     "declarations": ["<sha256 hex>", ...]}

``statement`` is what is signed (its canonical JSON): ``type``
(``consentkit-checkpoint/2``), ``created_at``, ``key_id``, ``root`` (the
Merkle root over one leaf per chain, in chain id order, each leaf the
canonical JSON of ``{"chain_id", "key_id", "mac", "root", "seq"}``),
``chains`` (how many), ``declarations`` (``count`` and ``digest``: SHA-256 of
the sorted hashes joined by newlines) and ``purges`` (``count`` and ``head``:
the digest of the last purge statement).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shlex
import subprocess
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consentkit.errors import ConsentKitError
from consentkit.log.chain import SignedHead
from consentkit.log.merkle import leaf_hash, tree_hash
from consentkit.log.record import canonical_json
from consentkit.log.signing import PublicKey, SigningKey

if TYPE_CHECKING:
    from consentkit.log.read import LogReader

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_TYPE",
    "Checkpoint",
    "CheckpointScheduler",
    "CheckpointSink",
    "SinkError",
    "build_checkpoint",
    "chain_entry_leaf",
    "declarations_digest",
    "make_checkpoint",
    "parse_checkpoints",
]

logger = logging.getLogger("consentkit.log")

#: The ``format`` member of a checkpoint document.
CHECKPOINT_FORMAT = "consentkit-log-checkpoint/2"
#: The ``type`` of the signed statement inside it.
CHECKPOINT_TYPE = "consentkit-checkpoint/2"
#: The unsigned format of consentkit before checkpoints were signed (still read).
LEGACY_FORMAT = "consentkit-log-checkpoint/1"


class SinkError(ConsentKitError):
    """A checkpoint could not be handed to its sink."""


def chain_entry_leaf(chain_id: str, entry: Mapping[str, Any]) -> bytes:
    """The checkpoint tree's leaf hash for one chain head."""
    return leaf_hash(
        canonical_json(
            {
                "chain_id": chain_id,
                "key_id": entry["key_id"],
                "mac": entry["mac"],
                "root": entry["root"],
                "seq": entry["seq"],
            }
        )
    )


def declarations_digest(hashes: Sequence[str]) -> str:
    """SHA-256 of the sorted declaration hashes joined by newlines, hex."""
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed checkpoint document (signed, or a legacy unsigned one)."""

    document: dict[str, Any]
    #: chain id -> entry (seq, root, mac, timestamp, key_id, signature)
    chains: dict[str, dict[str, Any]]
    declarations: tuple[str, ...]
    signed: bool

    @property
    def statement(self) -> dict[str, Any]:
        """The signed statement (empty for a legacy checkpoint)."""
        value = self.document.get("statement")
        return value if isinstance(value, dict) else {}

    @property
    def created_at(self) -> str:
        """When it was made."""
        return str(self.statement.get("created_at") or self.document.get("created_at", "?"))

    @property
    def key_id(self) -> str:
        """The id of the key that signed it."""
        return str(self.statement.get("key_id", ""))

    def head(self, chain_id: str) -> SignedHead | None:
        """The chain's head as a `SignedHead` (None if the checkpoint does not name it)."""
        entry = self.chains.get(chain_id)
        if entry is None:
            return None
        return SignedHead(
            chain_id,
            int(entry["seq"]),
            str(entry.get("root", "")),
            str(entry["mac"]),
            str(entry.get("timestamp", "")),
            str(entry.get("key_id", "")),
            str(entry.get("signature", "")),
        )

    def problems(self, keys: Mapping[str, PublicKey]) -> list[str]:
        """What is wrong with this checkpoint itself: signature, root, digests."""
        if not self.signed:
            return []
        statement = self.statement
        key = keys.get(self.key_id)
        found: list[str] = []
        if key is None:
            found.append(
                f"signed with key id {self.key_id}, which none of the public keys given has:"
                " a forged checkpoint is as likely as a missing key"
            )
        elif not key.verify(str(self.document.get("signature", "")), canonical_json(statement)):
            found.append("its signature does not match its statement: forged or altered")
        leaves = [chain_entry_leaf(c, self.chains[c]) for c in sorted(self.chains)]
        if tree_hash(leaves).hex() != statement.get("root"):
            found.append("its chains do not give the root it signed: altered")
        if statement.get("chains") != len(self.chains):
            found.append("it lists another number of chains than it signed: altered")
        declared = statement.get("declarations") or {}
        if declared.get("digest") != declarations_digest(self.declarations) or declared.get(
            "count"
        ) != len(self.declarations):
            found.append("its declaration hashes are not the ones it signed: altered")
        return found

    def to_json(self, indent: int | None = None) -> str:
        """The document as JSON text."""
        return json.dumps(self.document, indent=indent, sort_keys=True)


def build_checkpoint(
    heads: Mapping[str, SignedHead],
    declarations: Sequence[str],
    purges: tuple[int, str],
    signer: SigningKey,
    now: datetime,
) -> Checkpoint:
    """A new checkpoint over ``heads``, ``declarations`` and (count, head digest) of purges."""
    chains = {
        chain_id: {
            "seq": head.seq,
            "root": head.root,
            "mac": head.mac,
            "timestamp": head.timestamp,
            "key_id": head.key_id,
            "signature": head.signature,
        }
        for chain_id, head in sorted(heads.items())
    }
    hashes = sorted(declarations)
    statement = {
        "type": CHECKPOINT_TYPE,
        "created_at": now.astimezone(timezone.utc).isoformat(timespec="microseconds"),
        "key_id": signer.key_id,
        "root": tree_hash([chain_entry_leaf(c, e) for c, e in chains.items()]).hex(),
        "chains": len(chains),
        "declarations": {"count": len(hashes), "digest": declarations_digest(hashes)},
        "purges": {"count": purges[0], "head": purges[1]},
    }
    document = {
        "format": CHECKPOINT_FORMAT,
        "statement": statement,
        "signature": signer.sign(canonical_json(statement)),
        "chains": chains,
        "declarations": hashes,
    }
    return Checkpoint(document, chains, tuple(hashes), True)


def _parse_one(data: Any) -> Checkpoint:
    if not isinstance(data, dict):
        raise ValueError("a checkpoint is a JSON object")
    fmt = data.get("format")
    chains = data.get("chains")
    if not isinstance(chains, dict):
        raise ValueError("the checkpoint has no 'chains' object")
    for chain_id, head in chains.items():
        if (
            not isinstance(head, dict)
            or not isinstance(head.get("seq"), int)
            or not isinstance(head.get("mac"), str)
        ):
            raise ValueError(f"the checkpoint's entry for chain {chain_id!r} is malformed")
    if fmt == LEGACY_FORMAT:
        return Checkpoint(data, chains, (), False)
    if fmt != CHECKPOINT_FORMAT:
        raise ValueError(f"the checkpoint is not a {CHECKPOINT_FORMAT} document")
    statement = data.get("statement")
    declarations = data.get("declarations")
    if (
        not isinstance(statement, dict)
        or statement.get("type") != CHECKPOINT_TYPE
        or not isinstance(data.get("signature"), str)
        or not isinstance(declarations, list)
        or not all(isinstance(h, str) for h in declarations)
    ):
        raise ValueError("the checkpoint's statement, signature or declarations are malformed")
    for chain_id, head in chains.items():
        if not isinstance(head.get("root"), str) or not isinstance(head.get("key_id"), str):
            raise ValueError(f"the checkpoint's entry for chain {chain_id!r} is malformed")
    return Checkpoint(data, chains, tuple(declarations), True)


def parse_checkpoints(text: str) -> list[Checkpoint]:
    """The checkpoints in ``text``: one JSON document, or JSON Lines (a file sink's output).

    Raises ValueError, naming the line, when malformed.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the checkpoint file is empty")
    try:
        return [_parse_one(json.loads(stripped))]
    except json.JSONDecodeError:
        pass
    found = []
    for number, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(_parse_one(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number} is not JSON: {exc.msg}") from None
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return found


class CheckpointSink:
    """Where checkpoints go besides the database: somewhere the operator does not control.

    ``spec``: a path (``file:`` optional): each checkpoint is appended to it
    as one JSON line (a directory gets one file per checkpoint); an
    ``http://`` or ``https://`` URL: each checkpoint is POSTed as JSON;
    ``exec:COMMAND``: the command runs with the checkpoint on its stdin.
    """

    def __init__(self, spec: str, *, timeout: float = 10.0) -> None:
        self.spec = spec
        self.timeout = timeout
        if spec.startswith(("http://", "https://")):
            self.kind = "http"
            self.target = spec
        elif spec.startswith("exec:"):
            self.kind = "exec"
            self.target = spec.removeprefix("exec:").strip()
            if not self.target:
                raise ValueError("exec: needs a command")
        else:
            self.kind = "file"
            self.target = spec.removeprefix("file:")
            if not self.target:
                raise ValueError("a checkpoint sink needs a path, a URL or exec:COMMAND")

    def __repr__(self) -> str:
        return f"CheckpointSink({self.kind})"

    def send(self, checkpoint: Checkpoint) -> None:
        """Hand ``checkpoint`` over; raises `SinkError` when that failed."""
        body = checkpoint.to_json()
        try:
            if self.kind == "http":
                request = urllib.request.Request(
                    self.target,
                    data=body.encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    if not 200 <= response.status < 300:
                        raise SinkError(f"the checkpoint endpoint answered {response.status}")
            elif self.kind == "exec":
                done = subprocess.run(
                    shlex.split(self.target),
                    input=body.encode(),
                    capture_output=True,
                    timeout=self.timeout,
                    check=False,
                )
                if done.returncode != 0:
                    raise SinkError(f"the checkpoint command exited with {done.returncode}")
            else:
                path = Path(self.target)
                if path.is_dir():
                    stamp = checkpoint.created_at.replace(":", "").replace("+", "Z")
                    (path / f"checkpoint-{stamp}.json").write_text(body + "\n", encoding="utf-8")
                else:
                    with open(path, "a", encoding="utf-8") as file:
                        file.write(body + "\n")
                        file.flush()
                        os.fsync(file.fileno())
        except SinkError:
            raise
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise SinkError(
                f"the checkpoint sink failed: {exc.__class__.__name__}: {exc}"
            ) from None


def make_checkpoint(
    reader: LogReader,
    signer: SigningKey,
    sink: CheckpointSink | None = None,
    now: datetime | None = None,
) -> Checkpoint:
    """Sign a checkpoint of the log in ``reader``, store it there, and hand it to ``sink``.

    The checkpoint is stored before the sink is tried; a sink failure raises
    `SinkError` after that (the next checkpoint covers everything again).
    """
    statements = reader.purge_statements()
    checkpoint = build_checkpoint(
        reader.signed_heads(),
        [digest for digest, _ in reader.declarations()],
        (len(statements), statements[-1].digest if statements else ""),
        signer,
        now or datetime.now(timezone.utc),
    )
    reader.store_checkpoint(checkpoint.created_at, checkpoint.to_json())
    if sink is not None:
        sink.send(checkpoint)
    return checkpoint


class CheckpointScheduler:
    """Makes a checkpoint every ``interval`` seconds, in a thread, while the app runs.

    A checkpoint that fails (storage down, sink unreachable) is logged and
    retried at the next tick; it never touches the request path. Until
    ``ready()`` (this process's writer has committed something) there is
    nothing of its own to checkpoint, and the log may not exist yet: ticks
    do nothing.
    """

    def __init__(
        self,
        storage: str,
        signer: SigningKey,
        sink: CheckpointSink | None,
        interval: float,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.storage = storage
        self.signer = signer
        self.sink = sink
        self.interval = interval
        self.ready = ready
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[object, ...] | None = None

    def start(self) -> None:
        """Start ticking (on the running event loop); safe to call more than once."""
        if self._task is None and self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop ticking, after one last checkpoint of what was written."""
        task, self._task = self._task, None
        if task is None:
            return
        loop = task.get_loop()
        if loop is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif not loop.is_closed():
            # Started lazily on another event loop (a test client's, a thread's).
            loop.call_soon_threadsafe(task.cancel)
        await asyncio.to_thread(self.tick)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.tick)

    def tick(self) -> Checkpoint | None:
        """Make one checkpoint if the log changed since the last; None if not (or it failed)."""
        from consentkit.log.read import open_reader

        if not self.ready():
            return None
        try:
            with open_reader(self.storage, write=True) as reader:
                heads = reader.signed_heads()
                state = (tuple(sorted((c, h.seq) for c, h in heads.items())),)
                if not heads or state == self._last:
                    return None
                checkpoint = make_checkpoint(reader, self.signer, self.sink)
                self._last = state
                return checkpoint
        except SinkError as exc:
            logger.warning("consent log checkpoint not delivered: %s", exc)
        except Exception as exc:  # a checkpoint must never take the app down
            logger.warning("consent log checkpoint failed: %s", exc.__class__.__name__)
        return None
