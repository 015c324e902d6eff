"""What every pygame demo shares: the main loop, the side panel, scripted input, frame rates.

A family's demo subclasses :class:`Demo`: it owns its PettingZoo env (the
rules come from ``games``), asks the opponent object for the agent's moves,
turns keys and clicks into the human's moves, and draws its board. This module
runs it: one loop per frame (input, update, draw), a side panel showing what
the agent has learned about the player (refreshed as it changes), and the
measured frame rate.

The loop is drivable headless: ``input_script`` injects pygame events frame by
frame (a callable ``(frame, demo) -> events`` or a mapping ``frame -> events``),
``max_frames`` and ``games`` bound the run, ``fps=0`` removes the frame cap,
and ``screenshot_path`` saves the last frame drawn.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pygame

from clients.opponent import AdaptiveOpponent
from games import GameError, GameSpec

log = logging.getLogger(__name__)

PANEL_WIDTH = 320
MIN_HEIGHT = 420
BACKGROUND = (22, 24, 30)
PANEL_BACKGROUND = (34, 37, 46)
INK = (236, 236, 240)
MUTED = (150, 156, 170)
ACCENT = (120, 200, 140)
WARN = (235, 120, 100)

Event = pygame.event.Event
InputScript = Callable[[int, "Demo"], Iterable[Event]] | Mapping[int, Iterable[Event]]


def key_press(key: int, unicode: str = "") -> list[Event]:
    """A key going down and up, as a human's keystroke posts them."""
    return [
        Event(pygame.KEYDOWN, key=key, mod=0, unicode=unicode, scancode=0),
        Event(pygame.KEYUP, key=key, mod=0, unicode=unicode, scancode=0),
    ]


def mouse_click(pos: tuple[int, int]) -> list[Event]:
    """A left click at window coordinates ``pos``."""
    return [
        Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1),
        Event(pygame.MOUSEBUTTONUP, pos=pos, button=1),
    ]


@dataclass(frozen=True)
class DemoResult:
    """What a run of a demo did."""

    frames: int
    games_finished: int
    """Games played to the end (a pong game is a match of several points)."""
    agent_results: tuple[int, ...]
    """Per finished episode, from the agent's side: +1 won, -1 lost, 0 draw."""
    fps: float
    """Frame rate achieved over the last second of frames."""
    insight: dict[str, str]
    """The opponent's last insight into the player."""
    status: str
    """The last status line (e.g. who won)."""


class FrameRateMeter:
    """Frames per second over a sliding window of recent frames."""

    def __init__(self, window: int = 60):
        self._stamps: deque[float] = deque(maxlen=window + 1)

    def tick(self) -> None:
        self._stamps.append(time.perf_counter())

    @property
    def fps(self) -> float:
        if len(self._stamps) < 2:
            return 0.0
        elapsed = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) / elapsed if elapsed > 0 else 0.0


class Demo(ABC):
    """Base of a family's demo: episode bookkeeping shared by every family.

    Subclasses implement ``new_episode``, ``handle_event`` (the human's
    input while a game is on), ``update`` (once per frame: the agent's move,
    physics) and ``draw_board``; they build their env, then call
    ``new_episode()`` at the end of ``__init__``, :meth:`finish_episode` when an
    episode ends, and :meth:`end_game` when the game (or match) is over.
    """

    title = "game-agent"
    controls = ""
    fps = 30

    def __init__(
        self,
        spec: GameSpec,
        opponent: AdaptiveOpponent,
        human_seat: int = 0,
        seed: int | None = None,
    ):
        if human_seat not in (0, 1):
            raise GameError(f"human_seat must be 0 or 1, got {human_seat}")
        self.spec = spec
        self.opponent = opponent
        self.human_seat = human_seat
        self.agent_seat = 1 - human_seat
        self.human = spec.agents[human_seat]
        self.agent = spec.agents[self.agent_seat]
        self.rng = np.random.default_rng(seed)
        self.agent_results: list[int] = []
        self.games_finished = 0
        self.game_over = False
        self.quit = False
        self.status = ""
        self.extra_lines: dict[str, str] = {}
        self.insight: dict[str, str] = opponent.insight()
        self.agent_ms = 0.0

    @property
    @abstractmethod
    def board_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the board area, left of the panel."""

    @abstractmethod
    def new_episode(self) -> None:
        """Deal a fresh episode (after a finished game, or the next point of a match)."""

    @abstractmethod
    def handle_event(self, event: Event) -> None:
        """One key or mouse event while a game is on."""

    @abstractmethod
    def update(self) -> None:
        """Once per frame while a game is on: the agent's move, physics, episode ends."""

    @abstractmethod
    def draw_board(self, surface: pygame.Surface) -> None:
        """Paint the game onto ``surface`` (the board area)."""

    def next_seed(self) -> int:
        return int(self.rng.integers(2**31))

    def agent_act(self, observation: dict[str, np.ndarray], reward: float) -> int:
        """The opponent's move, timed so the panel can show how long the agent thinks."""
        start = time.perf_counter()
        action = self.opponent.act(observation["observation"], observation["action_mask"], reward)
        self.agent_ms = 1000.0 * (time.perf_counter() - start)
        return int(action)

    def finish_episode(self, agent_final_reward: float, agent_result: int) -> None:
        """Tell the opponent the episode is over (it adapts) and refresh the panel."""
        self.opponent.end_episode(agent_final_reward, agent_result)
        self.agent_results.append(agent_result)
        self.insight = self.opponent.insight()

    def end_game(self, status: str) -> None:
        self.game_over = True
        self.games_finished += 1
        self.status = f"{status}  (space: play again, esc: quit)"

    def on_event(self, event: Event) -> None:
        """Route one event: quitting and restarting are common to every demo."""
        if event.type == pygame.QUIT or (
            event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
        ):
            self.quit = True
        elif self.game_over:
            restart = event.type == pygame.MOUSEBUTTONDOWN or (
                event.type == pygame.KEYDOWN and event.key in (pygame.K_SPACE, pygame.K_RETURN)
            )
            if restart:
                self.game_over = False
                self.new_episode()
        else:
            self.handle_event(event)


class _TextCache:
    """Rendered text surfaces, re-rendered only when their text changes."""

    def __init__(self) -> None:
        self._fonts = {size: pygame.font.Font(None, size) for size in (20, 24, 30)}
        self._cache: dict[tuple[str, int, tuple[int, int, int]], pygame.Surface] = {}

    def width(self, text: str, size: int) -> int:
        return self._fonts[size].size(text)[0]

    def render(self, text: str, size: int = 20, colour: tuple[int, int, int] = INK) -> Any:
        key = (text, size, colour)
        if key not in self._cache:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = self._fonts[size].render(text, True, colour)
        return self._cache[key]


def wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Split ``text`` at spaces into the fewest lines for which ``fits(line)`` holds."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and not fits(candidate):
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line] if line else lines


def draw_panel(surface: pygame.Surface, left: int, demo: Demo, fps: float, text: _TextCache):
    """The side panel: the variant, controls, status, and what the agent has learned."""
    height = surface.get_height()
    pygame.draw.rect(surface, PANEL_BACKGROUND, (left, 0, PANEL_WIDTH, height))
    x, y = left + 14, 12
    usable = PANEL_WIDTH - 28

    def line(content: str, size: int = 20, colour=INK, indent: int = 0) -> None:
        nonlocal y
        for part in wrap(content, lambda t: text.width(t, size) <= usable - indent):
            surface.blit(text.render(part, size, colour), (x + indent, y))
            y += size - 2

    line(demo.title, 30, ACCENT)
    line(demo.spec.name.replace(",", ", "), 20, MUTED)
    y += 6
    line(demo.controls, 20, MUTED)
    y += 10
    line("What the agent has learned about you", 24, ACCENT)
    for label, value in demo.insight.items():
        line(f"{label}:", 20, MUTED)
        line(value, 20, INK, indent=10)
    y += 8
    for label, value in demo.extra_lines.items():
        line(f"{label}: {value}", 20, INK)
    y += 8
    line(demo.status, 24, WARN if demo.game_over else INK)
    footer = f"{fps:5.1f} FPS   agent {demo.agent_ms:5.1f} ms/move"
    surface.blit(text.render(footer, 20, MUTED), (x, height - 24))


def _events_for(script: InputScript | None, frame: int, demo: Demo) -> Iterable[Event]:
    if script is None:
        return ()
    if callable(script):
        return script(frame, demo) or ()
    return script.get(frame, ())


def run(
    demo: Demo,
    *,
    input_script: InputScript | None = None,
    max_frames: int | None = None,
    games: int | None = None,
    screenshot_path: str | Path | None = None,
    fps: int | None = None,
) -> DemoResult:
    """Run ``demo`` until the player quits, ``games`` games end or ``max_frames`` pass."""
    pygame.display.init()
    pygame.font.init()
    try:
        board_w, board_h = demo.board_size
        screen = pygame.display.set_mode((board_w + PANEL_WIDTH, max(board_h, MIN_HEIGHT)))
        pygame.display.set_caption(f"{demo.title}: {demo.spec.name}")
        text, clock, meter = _TextCache(), pygame.time.Clock(), FrameRateMeter()
        cap = demo.fps if fps is None else fps
        frame = 0
        while not demo.quit and (max_frames is None or frame < max_frames):
            if games is not None and demo.games_finished >= games:
                break
            for event in _events_for(input_script, frame, demo):
                pygame.event.post(event)
            for event in pygame.event.get():
                demo.on_event(event)
            if not demo.game_over and not demo.quit:
                demo.update()
            screen.fill(BACKGROUND)
            demo.draw_board(screen.subsurface((0, 0, board_w, board_h)))
            draw_panel(screen, board_w, demo, meter.fps, text)
            pygame.display.flip()
            clock.tick(cap)
            meter.tick()
            frame += 1
        if screenshot_path is not None:
            pygame.image.save(screen, str(screenshot_path))
        return DemoResult(
            frames=frame,
            games_finished=demo.games_finished,
            agent_results=tuple(demo.agent_results),
            fps=meter.fps,
            insight=dict(demo.insight),
            status=demo.status,
        )
    finally:
        pygame.display.quit()
