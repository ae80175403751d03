"""Errors the collection side's services raise, with messages written for the person who asked."""


class ServiceError(Exception):
    """A refused operation, with a message written for the person who asked."""


class RosterFrozen(ServiceError):
    """The roster and sectors cannot change while a wave is open (PRIVACY.md rule 9)."""


class NotAllowed(ServiceError):
    """The person asking may not do this (separation of duties, PRIVACY.md rule 9a); nothing changed."""
