"""Table operations as data: what the sync engine plans and a backend applies (one netlink request each)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ipvs.model import Destination, DestKey, Service, ServiceKey


class OpKind(enum.Enum):
    ADD_SERVICE = "add_service"
    EDIT_SERVICE = "edit_service"
    DELETE_SERVICE = "delete_service"
    ADD_DEST = "add_dest"
    EDIT_DEST = "edit_dest"
    DELETE_DEST = "delete_dest"


@dataclass(frozen=True)
class Op:
    """One IPVS write. ``service`` is set for service adds/edits, ``dest`` for dest adds/edits, ``dest_key``
    for dest deletes; ``key`` always names the service."""

    kind: OpKind
    key: ServiceKey
    service: Service | None = None
    dest: Destination | None = None
    dest_key: DestKey | None = None

    @staticmethod
    def add_service(svc: Service) -> Op:
        return Op(OpKind.ADD_SERVICE, svc.key, service=svc)

    @staticmethod
    def edit_service(svc: Service) -> Op:
        return Op(OpKind.EDIT_SERVICE, svc.key, service=svc)

    @staticmethod
    def delete_service(key: ServiceKey) -> Op:
        return Op(OpKind.DELETE_SERVICE, key)

    @staticmethod
    def add_dest(key: ServiceKey, dest: Destination) -> Op:
        return Op(OpKind.ADD_DEST, key, dest=dest)

    @staticmethod
    def edit_dest(key: ServiceKey, dest: Destination) -> Op:
        return Op(OpKind.EDIT_DEST, key, dest=dest)

    @staticmethod
    def delete_dest(key: ServiceKey, dest_key: DestKey) -> Op:
        return Op(OpKind.DELETE_DEST, key, dest_key=dest_key)

    def __str__(self) -> str:
        what = self.dest.key if self.dest else self.dest_key
        return f"{self.kind.value} {self.key}" + (f" -> {what}" if what else "")
