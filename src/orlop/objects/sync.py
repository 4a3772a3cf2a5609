"""The blocking twin of :mod:`orlop.objects`: same names, same arguments, same errors.

Each sync client owns an event loop running in a daemon thread; every method
submits the async implementation to that loop and waits for its result, so
the async code is the only implementation (httpx's twin-API idea, without
duplicating logic). Readers and watchers are wrapped the same way:
``reader.read/seek/tell`` and iteration, ``for info in bucket.watch()``.

    from orlop.objects.sync import connect
    with connect("nats://127.0.0.1:4222") as client:
        bucket = client.create_bucket("docs")
        bucket.put("a.txt", b"hello")
        assert bucket.get_bytes("a.txt") == b"hello"
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Never, TypeVar

from orlop.objects import bucket as abucket
from orlop.objects import client as aclient
from orlop.objects.encryption import Key, Keyring
from orlop.objects.meta import ObjectInfo
from orlop.objects.orphans import MIN_AGE, Orphan
from orlop.objects.reader import ObjectReader as AsyncReader
from orlop.objects.watch import ObjectWatcher as AsyncWatcher

__all__ = ["Bucket", "ObjectReader", "ObjectStoreClient", "ObjectWatcher", "connect"]

T = TypeVar("T")


# How long an interrupted call may take to clean up before the interrupt goes on.
_CLEANUP_WAIT = 10.0


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (a dependency on Linux and macOS): faster transfers."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class _LoopThread:
    """An event loop in a daemon thread; :meth:`run` blocks until a coroutine finishes there."""

    def __init__(self) -> None:
        self.loop = _new_loop()
        self._thread = threading.Thread(target=self._main, name="orlop-objects-sync", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync Object Store call cannot be made from its own loop thread")
        # The task is made here rather than by run_coroutine_threadsafe so that its end
        # (cleanup included) can be waited for after an interrupt.
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        finished = threading.Event()
        tasks: list[asyncio.Task[T]] = []

        def settle(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                result.cancel()
            elif task.exception() is not None:
                result.set_exception(task.exception())
            else:
                result.set_result(task.result())
            finished.set()

        def spawn() -> None:
            task = self.loop.create_task(coro)
            task.add_done_callback(settle)
            tasks.append(task)

        self.loop.call_soon_threadsafe(spawn)
        try:
            return result.result()
        except BaseException:
            # Interrupted (Ctrl-C) while the call runs: cancel it on the loop (callbacks run
            # in order, so after spawn) and let its own cleanup finish (a put purges the
            # chunks it wrote), as the async call would.
            if not finished.is_set():
                self.loop.call_soon_threadsafe(lambda: tasks[0].cancel())
                finished.wait(_CLEANUP_WAIT)
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


class ObjectReader:
    """Blocking file-like reader: ``read``, ``readinto``, ``seek``, ``tell``, iteration of chunks."""

    def __init__(self, runner: _LoopThread, reader: AsyncReader) -> None:
        self._run = runner.run
        self._reader = reader

    @property
    def info(self) -> ObjectInfo:
        return self._reader.info

    @property
    def size(self) -> int:
        return self._reader.size

    @property
    def bytes_fetched(self) -> int:
        return self._reader.bytes_fetched

    def read(self, n: int = -1) -> bytes:
        return self._run(self._reader.read(n))

    def readinto(self, buf: Any) -> int:
        return self._run(self._reader.readinto(buf))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._run(self._reader.seek(offset, whence))

    def tell(self) -> int:
        return self._reader.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self._run(self._reader.__anext__())
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._run(self._reader.aclose())

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectWatcher:
    """Blocking iterator of ObjectInfo changes; ``stop()`` or leave the ``with`` block."""

    def __init__(self, runner: _LoopThread, watcher: AsyncWatcher) -> None:
        self._run = runner.run
        self._watcher = watcher

    @property
    def initial_done(self) -> bool:
        return self._watcher.initial_done.is_set()

    def start(self) -> ObjectWatcher:
        self._run(self._watcher.start())
        return self

    def __iter__(self) -> Iterator[ObjectInfo]:
        while True:
            try:
                yield self._run(self._watcher.__anext__())
            except StopAsyncIteration:
                return

    def next(self, timeout: float | None = None) -> ObjectInfo | None:
        """The next change, or None when ``timeout`` seconds pass without one."""

        async def one() -> ObjectInfo | None:
            try:
                async with asyncio.timeout(timeout):
                    return await self._watcher.__anext__()
            except TimeoutError:
                return None

        return self._run(one())

    def stop(self) -> None:
        self._run(self._watcher.stop())

    def __enter__(self) -> ObjectWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Bucket:
    """Blocking :class:`orlop.objects.Bucket`; see it for arguments and errors."""

    def __init__(self, runner: _LoopThread, bucket: abucket.Bucket) -> None:
        self._runner = runner
        self._run = runner.run
        self._bucket = bucket

    @property
    def name(self) -> str:
        return self._bucket.name

    @property
    def stream_info(self) -> dict[str, Any]:
        """The backing stream's info as last read (configuration, state, cluster)."""
        return self._bucket.stream_info

    @property
    def async_bucket(self) -> abucket.Bucket:
        """The async bucket underneath (for calls that take one, like :meth:`copy`)."""
        return self._bucket

    @property
    def history(self) -> int:
        return self._bucket.history

    def __repr__(self) -> str:
        return f"sync.Bucket({self.name!r})"

    def put(
        self,
        name: str,
        data: Any = b"",
        *,
        description: str | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        metadata: Mapping[str, str] | None = None,
        chunk_size: int | None = None,
        compression: str | bool | None = None,
        ttl: float | timedelta | None = None,
        if_revision: int | None = None,
        create_only: bool = False,
        progress: Callable[[int], None] | None = None,
        encryption: Key | Keyring | None = None,
        expect_sha256: str | bytes | None = None,
        **unknown: Never,
    ) -> ObjectInfo:
        return self._run(
            self._bucket.put(
                name,
                data,
                description=description,
                headers=headers,
                metadata=metadata,
                chunk_size=chunk_size,
                compression=compression,
                ttl=ttl,
                if_revision=if_revision,
                create_only=create_only,
                progress=progress,
                encryption=encryption,
                expect_sha256=expect_sha256,
                **unknown,
            )
        )

    def get(
        self, name: str, *, revision: int | None = None, encryption: Key | Keyring | None = None
    ) -> ObjectReader:
        reader = self._run(self._bucket.get(name, revision=revision, encryption=encryption))
        return ObjectReader(self._runner, reader)

    def get_bytes(
        self, name: str, *, revision: int | None = None, encryption: Key | Keyring | None = None
    ) -> bytes:
        return self._run(self._bucket.get_bytes(name, revision=revision, encryption=encryption))

    def read_range(
        self,
        name: str,
        offset: int,
        length: int,
        *,
        revision: int | None = None,
        encryption: Key | Keyring | None = None,
    ) -> bytes:
        return self._run(
            self._bucket.read_range(name, offset, length, revision=revision, encryption=encryption)
        )

    def download(
        self,
        name: str,
        dest: Any,
        *,
        revision: int | None = None,
        progress: Callable[[int], None] | None = None,
        encryption: Key | Keyring | None = None,
    ) -> ObjectInfo:
        return self._run(
            self._bucket.download(name, dest, revision=revision, progress=progress, encryption=encryption)
        )

    def rekey(self, name: str, *, old: Key | Keyring, new: Key | Keyring) -> ObjectInfo:
        return self._run(self._bucket.rekey(name, old=old, new=new))

    def copy(
        self,
        name: str,
        to_name: str | None = None,
        *,
        to_bucket: Bucket | None = None,
        revision: int | None = None,
        encryption: Key | Keyring | None = None,
        **put_options: Any,
    ) -> ObjectInfo:
        dest = to_bucket.async_bucket if to_bucket is not None else None
        return self._run(
            self._bucket.copy(
                name, to_name, to_bucket=dest, revision=revision, encryption=encryption, **put_options
            )
        )

    def info(self, name: str, *, show_deleted: bool = False, revision: int | None = None) -> ObjectInfo:
        return self._run(self._bucket.info(name, show_deleted=show_deleted, revision=revision))

    def update_meta(self, object_name: str, /, **changes: Any) -> ObjectInfo:
        return self._run(self._bucket.update_meta(object_name, **changes))

    def delete(self, name: str, *, purge: bool = False) -> ObjectInfo | None:
        return self._run(self._bucket.delete(name, purge=purge))

    def list(self, filter: str | None = None, *, include_deleted: bool = False) -> builtins.list[ObjectInfo]:
        return self._run(self._bucket.list(filter, include_deleted=include_deleted))

    def orphans(self, older_than: float = MIN_AGE) -> builtins.list[Orphan]:
        return self._run(self._bucket.orphans(older_than))

    def sweep_orphans(self, older_than: float = MIN_AGE) -> builtins.list[Orphan]:
        return self._run(self._bucket.sweep_orphans(older_than))

    def watch(self, **options: bool) -> ObjectWatcher:
        return ObjectWatcher(self._runner, self._bucket.watch(**options))

    def add_link(self, name: str, target: ObjectInfo) -> ObjectInfo:
        return self._run(self._bucket.add_link(name, target))

    def add_bucket_link(self, name: str, bucket: Bucket | abucket.Bucket | str) -> ObjectInfo:
        other = bucket.name if isinstance(bucket, Bucket | abucket.Bucket) else bucket
        return self._run(self._bucket.add_bucket_link(name, other))

    def versions(self, name: str) -> builtins.list[ObjectInfo]:
        return self._run(self._bucket.versions(name))

    def delete_revision(self, name: str, revision: int) -> ObjectInfo | None:
        return self._run(self._bucket.delete_revision(name, revision))

    def restore(self, name: str, revision: int) -> ObjectInfo:
        return self._run(self._bucket.restore(name, revision))

    def status(self) -> abucket.BucketStatus:
        return self._run(self._bucket.status())

    def seal(self) -> None:
        self._run(self._bucket.seal())


class ObjectStoreClient:
    """Blocking :class:`orlop.objects.ObjectStoreClient`; closing it stops its loop thread."""

    def __init__(self, runner: _LoopThread, client: aclient.ObjectStoreClient) -> None:
        self._runner = runner
        self._run = runner.run
        self.aclient = client

    def create_bucket(self, bucket: str, **options: Any) -> Bucket:
        return Bucket(self._runner, self._run(self.aclient.create_bucket(bucket, **options)))

    def bucket(self, bucket: str) -> Bucket:
        return Bucket(self._runner, self._run(self.aclient.bucket(bucket)))

    def update_bucket(self, bucket: str, **changes: Any) -> Bucket:
        return Bucket(self._runner, self._run(self.aclient.update_bucket(bucket, **changes)))

    def delete_bucket(self, bucket: str) -> None:
        self._run(self.aclient.delete_bucket(bucket))

    def buckets(self) -> list[str]:
        return self._run(self.aclient.buckets())

    def close(self) -> None:
        try:
            self._run(self.aclient.close())
        finally:
            self._runner.stop()

    def __enter__(self) -> ObjectStoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    url: str | builtins.list[str] = "nats://127.0.0.1:4222",
    *,
    request_timeout: float = 5.0,
    api_prefix: str = "$JS.API",
    **nats_options: Any,
) -> ObjectStoreClient:
    """Connect (blocking); the client is also a context manager. Raises what ``nats.connect`` raises."""
    runner = _LoopThread()
    try:
        client = runner.run(
            aclient.connect(
                url, request_timeout=request_timeout, api_prefix=api_prefix, **nats_options
            ).open()
        )
    except BaseException:
        runner.stop()
        raise
    return ObjectStoreClient(runner, client)
