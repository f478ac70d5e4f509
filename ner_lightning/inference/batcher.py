"""Request batching for the server, fair under abuse: work is cut into passes of a bounded number of characters,
taken round-robin from every waiting request, so a small request never waits behind the whole of a large one.

Each pass tags at most ``pass_chars`` characters (at least one text): requests that arrive while a pass runs join
the next one. A request of 64 texts of 10,000 characters takes many passes; a one-line request that arrives meanwhile
is answered after at most one of them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ner_lightning.inference.predictor import Predictor


class RequestTimeout(Exception):
    """A request took longer than the server's ``request_timeout``."""


@dataclass(eq=False)
class Job:
    """One request being tagged: its texts, the results so far, and the next text to tag."""

    texts: list[str]
    future: asyncio.Future
    results: list[Any] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.texts) or self.future.done()


class Batcher:
    """Tags waiting requests together, a bounded slice of work per pass.

    Args:
        tagger: the predictor.
        max_batch_size: requests that may share one pass (at most).
        batch_timeout: seconds the first request of an idle server waits for company (0: take what is waiting).
        pass_chars: characters tagged per pass at most (a longer single text is one pass of its own).
        request_timeout: seconds a request may take in all before it is answered with a timeout (``None``: no limit).
    """

    def __init__(
        self,
        tagger: Predictor,
        max_batch_size: int,
        batch_timeout: float,
        pass_chars: int = 4000,
        request_timeout: float | None = None,
    ) -> None:
        self.tagger = tagger
        self.max_batch_size = max_batch_size
        self.batch_timeout = batch_timeout
        self.pass_chars = pass_chars
        self.request_timeout = request_timeout
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.active: deque[Job] = deque()
        self.batches = 0  # passes so far (how well requests were batched)
        self.requests = 0  # requests answered

    async def submit(self, texts: list[str]) -> list[Any]:
        """Entities of ``texts`` once every one of them has been tagged.

        Raises:
            RequestTimeout: past ``request_timeout`` seconds (the rest of its work is dropped).
        """
        job = Job(texts, asyncio.get_running_loop().create_future())
        await self.queue.put(job)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.request_timeout)
        except asyncio.TimeoutError:
            job.future.cancel()  # the batcher drops what is left of it
            raise RequestTimeout(
                f"the request took longer than {self.request_timeout:g} s (serve request_timeout)"
            ) from None

    def _admit(self) -> None:
        while len(self.active) < self.max_batch_size:
            try:
                self.active.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                return

    def next_pass(self) -> list[tuple[Job, int]]:
        """(job, text index) pairs of the next pass: round-robin over the active requests, one text each in turn,
        until ``pass_chars`` characters are taken (always at least one text)."""
        taken: list[tuple[Job, int]] = []
        chars = 0
        pending = {id(job): len(job.results) for job in self.active}
        while True:
            progressed = False
            for job in self.active:
                index = pending[id(job)]
                if index >= len(job.texts):
                    continue
                size = len(job.texts[index])
                if taken and chars + size > self.pass_chars:
                    return taken
                taken.append((job, index))
                pending[id(job)] = index + 1
                chars += size
                progressed = True
            if not progressed:
                return taken

    async def run(self) -> None:
        """Forever: admit waiting requests, tag one pass, hand finished requests their results."""
        loop = asyncio.get_running_loop()
        while True:
            if not self.active:
                self.active.append(await self.queue.get())
                if self.batch_timeout > 0:
                    await asyncio.sleep(self.batch_timeout)
            self._admit()
            self.active = deque(job for job in self.active if not job.future.done())  # timed out: dropped
            work = self.next_pass()
            if not work:
                continue
            try:
                found = await loop.run_in_executor(None, self.tagger.predict, [j.texts[i] for j, i in work])
            except Exception as err:  # noqa: BLE001 - reported to each request in the pass, the loop goes on
                for job in {id(j): j for j, _ in work}.values():
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            self.batches += 1
            for (job, _), entities in zip(work, found):
                job.results.append(entities)
            for job in list(self.active):
                if len(job.results) == len(job.texts) and not job.future.done():
                    job.future.set_result(job.results)
                    self.requests += 1
            # the next pass starts with the request after the last one served (round-robin across passes)
            served = [job for job in self.active if not job.done]
            self.active = deque(served)
            if len(served) > 1:
                last = work[-1][0]
                if last in served:
                    self.active.rotate(-(served.index(last) + 1))
