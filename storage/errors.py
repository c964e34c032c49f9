"""The errors storage raises, so that callers catch one family whatever the backend."""


class StorageError(Exception):
    """The database could not be reached or could not do what was asked."""


class ConstraintError(StorageError):
    """A write broke a uniqueness, foreign-key or check constraint."""


class MessageNotFoundError(StorageError):
    """No message has the given id (it may have been forgotten with its customer)."""

    def __init__(self, message_id: int) -> None:
        super().__init__(f"no message with id {message_id}")
        self.message_id = message_id
