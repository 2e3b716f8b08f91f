"""Lazy iteration over ``{"items": [...], "next_page_token": ...}`` lists."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ..types import Page

T = TypeVar("T")


class Paginator(Generic[T]):
    """Iterate items across pages; a page is fetched only when the previous one is used up.

    ``limit`` caps the total number of items yielded. ``pages()`` yields whole ``Page`` objects.
    """

    def __init__(self, fetch: Callable[[str | None], Page[T]], *, limit: int | None = None) -> None:
        self._fetch = fetch
        self._limit = limit

    def pages(self) -> Iterator[Page[T]]:
        token: str | None = None
        while True:
            page = self._fetch(token)
            yield page
            token = page.next_page_token
            if not token:
                return

    def __iter__(self) -> Iterator[T]:
        if self._limit is not None and self._limit <= 0:
            return
        n = 0
        for page in self.pages():
            for item in page.items:
                yield item
                n += 1
                if self._limit is not None and n >= self._limit:
                    return

    def to_list(self) -> list[T]:
        return list(self)
