"""Run a call on a thread now, take its result (or its exception) later.

A deployment overlaps the docker/compose calls that only observe (which CLI, which containers)
with boto3's start-up and the S3 fetch: subprocess waits release the GIL.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    def __init__(self, func: Callable[..., T], *args: Any) -> None:
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(func, args), daemon=True)
        self._thread.start()

    def _run(self, func: Callable[..., T], args: tuple[Any, ...]) -> None:
        try:
            self._result = func(*args)
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
