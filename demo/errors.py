"""The shop's own exception types: a non-builtin name is what exception labels must show."""


class PaymentGatewayError(RuntimeError):
    """The payment provider refused to talk to us."""


class InventorySyncError(RuntimeError):
    """The warehouse answered with something we cannot read."""


class CardDeclinedError(RuntimeError):
    """A transient refusal: the capture task retries on it."""
