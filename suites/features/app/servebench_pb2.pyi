from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EchoRequest(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class EchoReply(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class StreamRequest(_message.Message):
    __slots__ = ("chunks", "ttft_ms", "token_delay_ms")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    chunks: int
    ttft_ms: int
    token_delay_ms: int
    def __init__(self, chunks: _Optional[int] = ..., ttft_ms: _Optional[int] = ..., token_delay_ms: _Optional[int] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("data", "index")
    DATA_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    index: int
    def __init__(self, data: _Optional[bytes] = ..., index: _Optional[int] = ...) -> None: ...
