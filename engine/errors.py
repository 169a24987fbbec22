"""Why the engine could not take a request: nothing was changed in any of these cases."""


class Busy(Exception):
    """A bounded queue is full; the caller should retry after `retry_after` seconds."""

    def __init__(self, what: str, retry_after: int = 1) -> None:
        super().__init__(f"{what} is full")
        self.retry_after = retry_after


class ShowNotFound(Exception):
    pass


class ShuttingDown(Exception):
    pass


class ShowInconsistent(Exception):
    """The show's stored state contradicts itself in a way no repair may settle (engine/consistency.py): it is
    refused until an operator repairs it (nothing was changed)."""

    def __init__(self, show_id: int, detail: str) -> None:
        super().__init__(detail)
        self.show_id = show_id


class NotOwner(Exception):
    """Cluster mode: another node decides for this show, so the request belongs there (nothing was changed)."""

    def __init__(self, show_id: int, owner_url: str) -> None:
        super().__init__(f"show {show_id} is decided by {owner_url}")
        self.show_id = show_id
        self.owner_url = owner_url


class ShowMoving(Exception):
    """Cluster mode: the node that owned this show stopped answering and its lease has not run out; the show
    moves to another node then (nothing was changed; retry after `retry_after` seconds)."""

    def __init__(self, show_id: int, retry_after: int) -> None:
        super().__init__(f"show {show_id} is moving to another node")
        self.show_id = show_id
        self.retry_after = retry_after
