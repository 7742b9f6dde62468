"""The stores a runtime hands out: Redis ones in production, in-memory twins in service tests.

Each store owns its keys and fields (bot/store/<name>.py) and offers intent-named methods; nothing
outside bot/store builds those keys or names those fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.store.attention import Attention, AttentionStore, MemoryAttention
from bot.store.audit import AuditLog, AuditStore, MemoryAudit
from bot.store.cases import CaseStates, CaseStateStore, MemoryCaseStates
from bot.store.channels import Channels, ChannelStore, MemoryChannels
from bot.store.follows import Follows, FollowStore, MemoryFollows
from bot.store.identity import IdentityCache, IdentityStore, MemoryIdentity
from bot.store.keys import Keys
from bot.store.outcomes import MemoryWriteOutcomes, WriteOutcomes, WriteOutcomeStore
from bot.store.sharing import MemorySharing, SharingCache, SharingStore


@dataclass
class Stores:
    cases: CaseStates
    follows: Follows
    channels: Channels
    audit: AuditLog
    sharing: SharingCache
    identity: IdentityCache
    outcomes: WriteOutcomes
    attention: Attention

    @classmethod
    def in_redis(cls, redis: aioredis.Redis, keys: Keys) -> Stores:
        cases = CaseStateStore(redis, keys)
        return cls(cases=cases, follows=FollowStore(redis, keys, cases), channels=ChannelStore(redis, keys),
                   audit=AuditStore(redis, keys), sharing=SharingStore(redis, keys),
                   identity=IdentityStore(redis, keys), outcomes=WriteOutcomeStore(redis, keys),
                   attention=AttentionStore(redis, keys))

    @classmethod
    def in_memory(cls) -> Stores:
        cases = MemoryCaseStates()
        return cls(cases=cases, follows=MemoryFollows(cases), channels=MemoryChannels(), audit=MemoryAudit(),
                   sharing=MemorySharing(), identity=MemoryIdentity(), outcomes=MemoryWriteOutcomes(),
                   attention=MemoryAttention(cases))
