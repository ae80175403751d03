"""Primary and complementary suppression, and `protect`: suppress until the joint audit passes."""

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analytics.engine.disclosure.cells import Cell, Parent
from analytics.engine.disclosure.joint_audit import (
    MINIMUM_K,
    MINIMUM_K_SENSITIVE,
    Attack,
    Auditor,
    validate_thresholds,
)


class Reason(StrEnum):
    """Why a cell is hidden."""

    PRIMARY = "primary"  # n < k (k_sensitive for a sensitive cell), or n = 0
    COMPLEMENTARY = "complementary"  # its parent's hidden cells held too few respondents
    AUDIT = "audit"  # the joint audit found a combination through it


class AuditNotPassedError(RuntimeError):
    """The audit still found a disclosure after `max_rounds` rounds: publish nothing."""


@dataclass(frozen=True)
class AuditRound:
    """One round of the joint audit: the set it isolated and what was hidden because of it.

    `attack` names hidden figures (the isolated respondents): keep it in memory only.
    """

    number: int
    attack: Attack
    suppressed_id: str
    complementary_ids: tuple[str, ...]


@dataclass(frozen=True)
class ProtectionResult:
    """The suppression decisions: hidden cell ids, the reason for each, and the audit rounds.

    Only `hidden_ids` may leave the engine run. A reason says whether a cell's
    n is below its threshold, and a round names isolated respondents: both are
    hidden figures (rules 2 and 4), for tests and in-memory diagnostics only.
    """

    hidden_ids: frozenset[str]
    reasons: Mapping[str, Reason]
    rounds: tuple[AuditRound, ...]
    # Diagnostics of the audit's floating-point rank decisions (`Auditor`): far
    # above 1 and far above 0 respectively when every decision was clear-cut.
    spectral_margin: float
    unit_margin: float


def _threshold(cell: Cell, *, k: int, k_sensitive: int) -> int:
    return k_sensitive if cell.is_sensitive else k


def primary_suppression(
    *, cells: Sequence[Cell], k: int = MINIMUM_K, k_sensitive: int = MINIMUM_K_SENSITIVE
) -> list[str]:
    """Return the ids of cells with n below their threshold, or n = 0 (a published zero reveals an empty set)."""
    validate_thresholds(k=k, k_sensitive=k_sensitive)
    return [cell.id for cell in cells if cell.n == 0 or cell.n < _threshold(cell, k=k, k_sensitive=k_sensitive)]


def _check_parents(parents: Sequence[Parent], known: Collection[str]) -> None:
    for parent in parents:
        ids = [*parent.child_ids, *([parent.total_id] if parent.total_id is not None else [])]
        unknown = [cell_id for cell_id in ids if cell_id not in known]
        if unknown:
            raise ValueError(f"a parent names unknown cells: {unknown}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"a parent names a cell twice: {ids}")


def complementary_suppression(
    *,
    cells: Sequence[Cell],
    parents: Sequence[Parent],
    hidden_ids: Collection[str],
    k: int = MINIMUM_K,
    k_sensitive: int = MINIMUM_K_SENSITIVE,
) -> list[str]:
    """Return the cells to hide in addition to `hidden_ids`, in the order decided (rule 3).

    Within every published parent that has hidden children: while the hidden
    children hold fewer than k respondents (k_sensitive when one of them is
    sensitive and not empty), or exactly one child is hidden (the total minus the others
    gives it back), hide the smallest visible child; with no visible child
    left, hide the total. Repeats until no parent changes, since hiding a cell
    can open another parent.
    """
    validate_thresholds(k=k, k_sensitive=k_sensitive)
    _check_parents(parents, {cell.id for cell in cells})
    sizes = {cell.id: cell.n for cell in cells}
    thresholds = {cell.id: _threshold(cell, k=k, k_sensitive=k_sensitive) for cell in cells}
    return _Complementary(parents=parents, sizes=sizes, thresholds=thresholds, k=k).hide(hidden_ids)


def complementary_by_size(
    *,
    parents: Sequence[Parent],
    sizes: Mapping[str, int],
    thresholds: Mapping[str, int],
    hidden_ids: Collection[str],
    k: int = MINIMUM_K,
) -> list[str]:
    """`complementary_suppression` on given sizes and thresholds instead of cells' members.

    For one measure's n (item nonresponse makes it smaller than the group's),
    where only the counts are known. Every id a parent names needs a size and
    a threshold.
    """
    return _Complementary(parents=parents, sizes=sizes, thresholds=thresholds, k=k).hide(hidden_ids)


class ParentIndex:
    """Parents with their cells as positions in `ids`, indexed once for many size vectors.

    `hidden_by_size` is `complementary_by_size` on positions: for one size
    vector per measure, over the same parents, without rebuilding the index
    or hashing ids each time.
    """

    def __init__(self, *, parents: Sequence[Parent], ids: Sequence[str]) -> None:
        self.ids = list(ids)
        self.position = {cell_id: position for position, cell_id in enumerate(self.ids)}
        if len(self.position) != len(self.ids):
            raise ValueError("ids must be unique")
        self.totals = [-1 if parent.total_id is None else self.position[parent.total_id] for parent in parents]
        self.children = [tuple(self.position[child] for child in parent.child_ids) for parent in parents]
        # Each child's first place in its parent: the tie-break among equal sizes.
        self.ranks = [tuple(parent.child_ids.index(child) for child in parent.child_ids) for parent in parents]
        parents_of: list[list[int]] = [[] for _ in self.ids]
        for place, (total, children) in enumerate(zip(self.totals, self.children, strict=True)):
            for cell in (*children, *([total] if total >= 0 else [])):
                parents_of[cell].append(place)
        self.parents_of = [tuple(places) for places in parents_of]

    def hidden_by_size(
        self, *, sizes: Sequence[int], thresholds: Sequence[int], hidden: Collection[int], k: int
    ) -> list[int]:
        """Return the positions complementary suppression hides in addition to `hidden` (positions), in order."""
        return _Sweep(self, sizes=sizes, thresholds=thresholds, k=k).hide(hidden)


class _Sweep:
    """Complementary suppression that remembers which parents are settled, for repeated calls in `protect`.

    A parent once processed stays settled until one of its cells is hidden,
    so each call revisits, in the parents' order and sweep after sweep as
    before, only the parents that a newly hidden cell touches: the same
    decisions as sweeping over every parent. Cells are positions of a
    `ParentIndex` (integers and lists: this runs once per measure).
    """

    def __init__(self, index: ParentIndex, *, sizes: Sequence[int], thresholds: Sequence[int], k: int) -> None:
        self.index = index
        self.sizes = list(sizes)
        self.thresholds = list(thresholds)
        self.k = k
        self.hidden = bytearray(len(index.ids))
        self.hidden_cells: list[int] = []
        # Parents to visit (all at first); the one being visited; this sweep's and the next sweep's queues.
        self.unsettled = set(range(len(index.children)))
        self.current = -1
        self.this_sweep: list[int] = []
        self.next_sweep: list[int] = []

    def _is_exposed(self, children: list[int]) -> bool:
        if len(children) == 1:
            return True
        # An empty sensitive cell asks for no more than k: it holds nobody to protect.
        needed = -1
        total = 0
        for child in children:
            size = self.sizes[child]
            total += size
            if size > 0 and self.thresholds[child] > needed:
                needed = self.thresholds[child]
        return total < (self.k if needed < 0 else needed)

    def _mark(self, cell: int) -> None:
        self.hidden[cell] = 1
        self.hidden_cells.append(cell)
        for place in self.index.parents_of[cell]:
            if place == self.current or place in self.unsettled:
                continue
            self.unsettled.add(place)
            # Later in the order: this sweep reaches it; earlier: the next sweep.
            heapq.heappush(self.this_sweep if place > self.current else self.next_sweep, place)

    def hide(self, hidden: Iterable[int]) -> list[int]:
        """Take these cells as hidden and return the cells complementary suppression adds, in order."""
        hidden = list(hidden)
        # On the first call every parent is unsettled, so after the narrowing below every parent of
        # these cells is already queued: marking them queues nothing more (`_mark` would skip each).
        is_fresh = len(self.unsettled) == len(self.index.children)
        if self.unsettled:
            # A parent with no hidden cell is settled as it stands (visiting it changes nothing), and
            # a cell hidden later puts it back (`_mark`) where a full sweep would visit it: so only
            # the parents of hidden cells are visited. Most parents of a large wave are of this kind.
            parents_of = self.index.parents_of
            self.unsettled &= {place for cell in (*self.hidden_cells, *hidden) for place in parents_of[cell]}
        self.current = -1
        self.this_sweep = sorted(self.unsettled)
        self.next_sweep = []
        flags = self.hidden
        for cell in hidden:
            if not flags[cell]:
                if is_fresh:
                    flags[cell] = 1
                    self.hidden_cells.append(cell)
                else:
                    self._mark(cell)
        added: list[int] = []
        while self.this_sweep:
            while self.this_sweep:
                self.current = heapq.heappop(self.this_sweep)
                self.unsettled.discard(self.current)
                self._settle(self.current, added)
            self.current, self.this_sweep, self.next_sweep = -1, self.next_sweep, []
        return added

    def _settle(self, place: int, added: list[int]) -> None:
        total = self.index.totals[place]
        hidden = self.hidden
        if total >= 0 and hidden[total]:
            return
        children = self.index.children[place]
        hidden_children = [child for child in children if hidden[child]]
        if not hidden_children or not self._is_exposed(hidden_children):
            return
        sizes = self.sizes
        visible = [
            child
            for _size, _rank, child in sorted(
                (sizes[child], rank, child)
                for child, rank in zip(children, self.index.ranks[place], strict=True)
                if not hidden[child]
            )
        ]
        visible.reverse()
        while visible and self._is_exposed(hidden_children):
            child = visible.pop()
            self._mark(child)
            hidden_children.append(child)
            added.append(child)
        if total >= 0 and self._is_exposed(hidden_children):
            self._mark(total)
            added.append(total)


class _Complementary:
    """`_Sweep` on cell ids, for `protect` and the functions above; every id a parent names needs a size."""

    def __init__(
        self, *, parents: Sequence[Parent], sizes: Mapping[str, int], thresholds: Mapping[str, int], k: int
    ) -> None:
        named = (
            cell_id
            for parent in parents
            for cell_id in (*parent.child_ids, *([parent.total_id] if parent.total_id is not None else []))
        )
        ids = list(dict.fromkeys([*sizes, *named]))
        self.index = ParentIndex(parents=parents, ids=ids)
        self.sweep = _Sweep(
            self.index,
            sizes=[sizes[cell_id] for cell_id in ids],
            thresholds=[thresholds[cell_id] for cell_id in ids],
            k=k,
        )

    def hide(self, hidden_ids: Collection[str]) -> list[str]:
        """Take these cells as hidden and return the cells complementary suppression adds, in order."""
        position = self.index.position
        # A hidden cell that no parent names changes nothing.
        added = self.sweep.hide([position[cell_id] for cell_id in hidden_ids if cell_id in position])
        return [self.index.ids[cell] for cell in added]


def _cell_to_suppress(
    attack: Attack, *, cells: Sequence[Cell], sizes: Mapping[str, int], published: Collection[str]
) -> str:
    """Return the published cell of the attack's combination with the smallest n, the overall total last."""
    order = {cell.id: position for position, cell in enumerate(cells)}
    by_id = {cell.id: cell for cell in cells}
    involved = [cell_id for cell_id in attack.combination if cell_id in published]
    if not involved:
        # Cannot happen for a combination of published cells; fall back to a published cell holding the set.
        members = np.fromiter(attack.members, dtype=np.int64)
        involved = [cell_id for cell_id in published if bool(by_id[cell_id].members[members].any())] or list(published)
    ordinary = [cell_id for cell_id in involved if not by_id[cell_id].is_total]
    return min(ordinary or involved, key=lambda cell_id: (sizes[cell_id], order[cell_id]))


def protect(
    *,
    cells: Sequence[Cell],
    parents: Sequence[Parent],
    k: int = MINIMUM_K,
    k_sensitive: int = MINIMUM_K_SENSITIVE,
    max_rounds: int | None = None,
) -> ProtectionResult:
    """Return which cells to hide so that no set of 1..k−1 respondents can be isolated (rules 1, 3, 4).

    Primary suppression, complementary suppression, then rounds of the exact
    joint audit: each attack found hides one more cell of its combination
    (the smallest, the overall total only when nothing else is left), then
    complementary suppression again, until the audit finds nothing. Every
    round hides a cell that was published, so there are at most as many
    rounds as cells; `max_rounds` lowers that bound, and reaching it with
    attacks left raises `AuditNotPassedError`.
    """
    validate_thresholds(k=k, k_sensitive=k_sensitive)
    auditor = Auditor(cells=cells, k=k, k_sensitive=k_sensitive)
    _check_parents(parents, auditor.index)
    sizes = {cell.id: int(size) for cell, size in zip(cells, auditor.sizes, strict=True)}
    thresholds = {cell.id: _threshold(cell, k=k, k_sensitive=k_sensitive) for cell in cells}
    reasons: dict[str, Reason] = {
        cell_id: Reason.PRIMARY for cell_id, size in sizes.items() if size == 0 or size < thresholds[cell_id]
    }
    complementary = _Complementary(parents=parents, sizes=sizes, thresholds=thresholds, k=k)
    for cell_id in complementary.hide(reasons):
        reasons[cell_id] = Reason.COMPLEMENTARY
    rounds: list[AuditRound] = []
    while True:
        published = {cell.id for cell in cells if cell.id not in reasons}
        found = False
        # One pass of the audit may report several sets; each after the first
        # is judged against the cells still published (the auditor reads
        # `reasons` as it goes), and one they no longer isolate is left for the
        # next pass.
        for attack in auditor.find_attacks(published_ids=published, withdrawn_ids=reasons):
            if any(cell_id in reasons for cell_id in attack.combination):
                continue
            found = True
            if max_rounds is not None and len(rounds) == max_rounds:
                raise AuditNotPassedError(f"the joint audit still finds disclosures after {max_rounds} rounds")
            chosen = _cell_to_suppress(attack, cells=cells, sizes=sizes, published=published - set(reasons))
            reasons[chosen] = Reason.AUDIT
            added = complementary.hide([chosen])
            for cell_id in added:
                reasons[cell_id] = Reason.COMPLEMENTARY
            rounds.append(
                AuditRound(number=len(rounds) + 1, attack=attack, suppressed_id=chosen, complementary_ids=tuple(added))
            )
        if not found:
            break
    order = {cell.id: position for position, cell in enumerate(cells)}
    ordered = dict(sorted(reasons.items(), key=lambda item: order[item[0]]))
    return ProtectionResult(
        hidden_ids=frozenset(ordered),
        reasons=ordered,
        rounds=tuple(rounds),
        spectral_margin=auditor.spectral_margin,
        unit_margin=auditor.unit_margin,
    )
