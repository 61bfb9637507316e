"""The consent log's schema, as numbered migrations (SQLite and PostgreSQL).

Migration N runs once, when a store finds the schema at version N-1. Append
new steps; never edit a step that has shipped.
"""

from __future__ import annotations

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS"]

# Migration 2 (both backends): where a purge cut a chain. Verification of a
# chain starts after its anchor: record ``seq`` (whose MAC was ``mac``) and
# everything before it were deleted on purpose.
#
# Migration 3 (both backends): each record's decision id (the client's
# idempotency key: unique, so a retried decision is stored once), the site's
# host and when the consent expires. Older records keep NULL in all three.
#
# Migration 4 (both backends): public-key verification. ``consentkit_log_heads``
# holds each committed batch's Ed25519-signed chain head (seq, Merkle root,
# MAC); ``consentkit_log_nodes`` the completed Merkle subtrees of 64 leaves and
# more (and the leaf hashes a purge must keep), for inclusion proofs;
# ``consentkit_log_purges`` the signed purge statements, themselves a hash
# chain; ``consentkit_log_checkpoints`` every signed checkpoint made. Anchors
# of migration 2 are no longer trusted: a chain that starts after one is
# reported until a signed purge covers it (``consentkit log purge`` converts them).
#
# Migration 5 (SQLite): ``consentkit_log_batch``, a view whose INSTEAD OF trigger
# routes each row by ``kind`` (chain, record, head, node) to its table, so a
# writer commits a whole batch, signed head included, as one INSERT statement:
# atomic without an explicit transaction, and one trip out of the GIL.
# PostgreSQL has no step 5.
#
# Migration 6 (both backends): the consent regime that applied to a decision
# (``opt_in``, ``us_opt_out``, ``notice``, ``none``), the visitor's region and
# where it came from. Older records keep NULL in all three (and their MACs,
# which never covered them). SQLite recreates the batch view with the new
# columns at its end.

SQLITE_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE consentkit_chains (
            chain_id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            key_id TEXT NOT NULL
        )""",
        """CREATE TABLE consentkit_declarations (
            hash TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE consentkit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            chain_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            record_id TEXT NOT NULL UNIQUE,
            consent_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            action TEXT NOT NULL,
            granted TEXT NOT NULL,
            denied TEXT NOT NULL,
            policy_version TEXT NOT NULL,
            declaration_hash TEXT NOT NULL,
            language TEXT NOT NULL,
            surface TEXT NOT NULL,
            path TEXT NOT NULL,
            ip TEXT,
            user_agent TEXT NOT NULL,
            gpc INTEGER NOT NULL,
            key_id TEXT NOT NULL,
            prev_mac TEXT NOT NULL,
            mac TEXT NOT NULL
        )""",
        "CREATE INDEX consentkit_log_chain ON consentkit_log (chain_id, seq)",
        "CREATE INDEX consentkit_log_consent ON consentkit_log (consent_id)",
        "CREATE INDEX consentkit_log_ts ON consentkit_log (ts)",
    ],
    [
        """CREATE TABLE consentkit_log_anchors (
            chain_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            mac TEXT NOT NULL,
            ts TEXT NOT NULL,
            purged_at TEXT NOT NULL
        )""",
    ],
    # Record fields an auditor expects, and idempotent decisions (see below).
    [
        "ALTER TABLE consentkit_log ADD COLUMN decision_id TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN site_host TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN expires_at TEXT",
        "CREATE UNIQUE INDEX consentkit_log_decision ON consentkit_log (decision_id)",
    ],
    [
        """CREATE TABLE consentkit_log_heads (
            chain_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            root TEXT NOT NULL,
            mac TEXT NOT NULL,
            ts TEXT NOT NULL,
            key_id TEXT NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (chain_id, seq)
        )""",
        """CREATE TABLE consentkit_log_nodes (
            chain_id TEXT NOT NULL,
            level INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (chain_id, level, idx)
        )""",
        """CREATE TABLE consentkit_log_purges (
            seq INTEGER PRIMARY KEY,
            body TEXT NOT NULL,
            key_id TEXT NOT NULL,
            signature TEXT NOT NULL
        )""",
        """CREATE TABLE consentkit_log_checkpoints (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
    ],
    [
        """CREATE VIEW consentkit_log_batch AS SELECT
            NULL AS kind,
            NULL AS chain_id,
            NULL AS seq,
            NULL AS record_id,
            NULL AS consent_id,
            NULL AS ts,
            NULL AS action,
            NULL AS granted,
            NULL AS denied,
            NULL AS policy_version,
            NULL AS declaration_hash,
            NULL AS language,
            NULL AS surface,
            NULL AS path,
            NULL AS ip,
            NULL AS user_agent,
            NULL AS gpc,
            NULL AS key_id,
            NULL AS prev_mac,
            NULL AS mac,
            NULL AS decision_id,
            NULL AS site_host,
            NULL AS expires_at,
            NULL AS root,
            NULL AS signature,
            NULL AS level,
            NULL AS idx
        WHERE 0""",
        """CREATE TRIGGER consentkit_log_batch_insert INSTEAD OF INSERT ON consentkit_log_batch
        BEGIN
            INSERT OR IGNORE INTO consentkit_chains (chain_id, created_at, key_id)
                SELECT NEW.chain_id, NEW.ts, NEW.key_id WHERE NEW.kind = 'chain';
            INSERT INTO consentkit_log (
                chain_id, seq, record_id, consent_id, ts, action, granted, denied,
                policy_version, declaration_hash, language, surface, path, ip, user_agent,
                gpc, key_id, prev_mac, mac, decision_id, site_host, expires_at
            )
                SELECT NEW.chain_id, NEW.seq, NEW.record_id, NEW.consent_id, NEW.ts, NEW.action,
                NEW.granted, NEW.denied, NEW.policy_version, NEW.declaration_hash,
                NEW.language, NEW.surface, NEW.path, NEW.ip, NEW.user_agent, NEW.gpc,
                NEW.key_id, NEW.prev_mac, NEW.mac, NEW.decision_id, NEW.site_host,
                NEW.expires_at
                WHERE NEW.kind = 'record';
            INSERT INTO consentkit_log_heads (chain_id, seq, root, mac, ts, key_id, signature)
                SELECT NEW.chain_id, NEW.seq, NEW.root, NEW.mac, NEW.ts, NEW.key_id, NEW.signature
                WHERE NEW.kind = 'head';
            INSERT INTO consentkit_log_nodes (chain_id, level, idx, hash)
                SELECT NEW.chain_id, NEW.level, NEW.idx, NEW.root WHERE NEW.kind = 'node';
        END""",
    ],
    [
        "ALTER TABLE consentkit_log ADD COLUMN regime TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN region TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN region_source TEXT",
        "DROP TRIGGER consentkit_log_batch_insert",
        "DROP VIEW consentkit_log_batch",
        """CREATE VIEW consentkit_log_batch AS SELECT
            NULL AS kind,
            NULL AS chain_id,
            NULL AS seq,
            NULL AS record_id,
            NULL AS consent_id,
            NULL AS ts,
            NULL AS action,
            NULL AS granted,
            NULL AS denied,
            NULL AS policy_version,
            NULL AS declaration_hash,
            NULL AS language,
            NULL AS surface,
            NULL AS path,
            NULL AS ip,
            NULL AS user_agent,
            NULL AS gpc,
            NULL AS key_id,
            NULL AS prev_mac,
            NULL AS mac,
            NULL AS decision_id,
            NULL AS site_host,
            NULL AS expires_at,
            NULL AS root,
            NULL AS signature,
            NULL AS level,
            NULL AS idx,
            NULL AS regime,
            NULL AS region,
            NULL AS region_source
        WHERE 0""",
        """CREATE TRIGGER consentkit_log_batch_insert INSTEAD OF INSERT ON consentkit_log_batch
        BEGIN
            INSERT OR IGNORE INTO consentkit_chains (chain_id, created_at, key_id)
                SELECT NEW.chain_id, NEW.ts, NEW.key_id WHERE NEW.kind = 'chain';
            INSERT INTO consentkit_log (
                chain_id, seq, record_id, consent_id, ts, action, granted, denied,
                policy_version, declaration_hash, language, surface, path, ip, user_agent,
                gpc, key_id, prev_mac, mac, decision_id, site_host, expires_at,
                regime, region, region_source
            )
                SELECT NEW.chain_id, NEW.seq, NEW.record_id, NEW.consent_id, NEW.ts, NEW.action,
                NEW.granted, NEW.denied, NEW.policy_version, NEW.declaration_hash,
                NEW.language, NEW.surface, NEW.path, NEW.ip, NEW.user_agent, NEW.gpc,
                NEW.key_id, NEW.prev_mac, NEW.mac, NEW.decision_id, NEW.site_host,
                NEW.expires_at, NEW.regime, NEW.region, NEW.region_source
                WHERE NEW.kind = 'record';
            INSERT INTO consentkit_log_heads (chain_id, seq, root, mac, ts, key_id, signature)
                SELECT NEW.chain_id, NEW.seq, NEW.root, NEW.mac, NEW.ts, NEW.key_id, NEW.signature
                WHERE NEW.kind = 'head';
            INSERT INTO consentkit_log_nodes (chain_id, level, idx, hash)
                SELECT NEW.chain_id, NEW.level, NEW.idx, NEW.root WHERE NEW.kind = 'node';
        END""",
    ],
]

POSTGRES_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE consentkit_chains (
            chain_id TEXT PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL,
            key_id TEXT NOT NULL
        )""",
        """CREATE TABLE consentkit_declarations (
            hash TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        )""",
        """CREATE TABLE consentkit_log (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            chain_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            record_id TEXT NOT NULL UNIQUE,
            consent_id TEXT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            action TEXT NOT NULL,
            granted TEXT NOT NULL,
            denied TEXT NOT NULL,
            policy_version TEXT NOT NULL,
            declaration_hash TEXT NOT NULL,
            language TEXT NOT NULL,
            surface TEXT NOT NULL,
            path TEXT NOT NULL,
            ip TEXT,
            user_agent TEXT NOT NULL,
            gpc BOOLEAN NOT NULL,
            key_id TEXT NOT NULL,
            prev_mac TEXT NOT NULL,
            mac TEXT NOT NULL
        )""",
        "CREATE INDEX consentkit_log_chain ON consentkit_log (chain_id, seq)",
        "CREATE INDEX consentkit_log_consent ON consentkit_log (consent_id)",
        "CREATE INDEX consentkit_log_ts ON consentkit_log (ts)",
    ],
    [
        """CREATE TABLE consentkit_log_anchors (
            chain_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            mac TEXT NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            purged_at TIMESTAMPTZ NOT NULL
        )""",
    ],
    [
        "ALTER TABLE consentkit_log ADD COLUMN decision_id TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN site_host TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN expires_at TIMESTAMPTZ",
        "CREATE UNIQUE INDEX consentkit_log_decision ON consentkit_log (decision_id)",
    ],
    [
        """CREATE TABLE consentkit_log_heads (
            chain_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            root TEXT NOT NULL,
            mac TEXT NOT NULL,
            ts TEXT NOT NULL,
            key_id TEXT NOT NULL,
            signature TEXT NOT NULL,
            PRIMARY KEY (chain_id, seq)
        )""",
        """CREATE TABLE consentkit_log_nodes (
            chain_id TEXT NOT NULL,
            level INTEGER NOT NULL,
            idx BIGINT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (chain_id, level, idx)
        )""",
        """CREATE TABLE consentkit_log_purges (
            seq BIGINT PRIMARY KEY,
            body TEXT NOT NULL,
            key_id TEXT NOT NULL,
            signature TEXT NOT NULL
        )""",
        """CREATE TABLE consentkit_log_checkpoints (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            created_at TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
    ],
    # 5: nothing (SQLite's batch view); the number keeps both schemas' versions aligned.
    [],
    [
        "ALTER TABLE consentkit_log ADD COLUMN regime TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN region TEXT",
        "ALTER TABLE consentkit_log ADD COLUMN region_source TEXT",
    ],
]
