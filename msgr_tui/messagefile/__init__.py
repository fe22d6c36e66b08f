"""Message files: every section and every AMQP type of a message, as JSON lines.

The format (version 1) is described in :mod:`.records` and :mod:`.typed_json`
and in the README; :func:`decode_message` and :func:`encode_message` turn the
bytes of a message into a :class:`MessageRecord` and back.
"""

from .files import MessageFileError, MessageFileWriter, read_messages, record_line, save_messages
from .records import FORMAT_KEY, FORMAT_VERSION, RecordFormatError, from_record, to_record
from .sections import (
    ORIGINAL_TO,
    Body,
    BodyKind,
    MessageRecord,
    SectionError,
    decode_message,
    encode_message,
    encode_readdressed,
)

__all__ = [
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "ORIGINAL_TO",
    "Body",
    "BodyKind",
    "MessageFileError",
    "MessageFileWriter",
    "MessageRecord",
    "RecordFormatError",
    "SectionError",
    "decode_message",
    "encode_message",
    "encode_readdressed",
    "from_record",
    "read_messages",
    "record_line",
    "save_messages",
    "to_record",
]
