"""The joint audit (PRIVACY.md rule 4): can the published cells isolate too few respondents?

The package docstring (`analytics.engine.disclosure`) gives the method and
why each reduction keeps every isolated set. Per publication:

1. publication atoms and the published cell × atom matrix A, kept sparse
   (a cell holding more than half of the wave is stored as its complement);
2. the eigenpairs of the row-equilibrated, multiplicity-weighted Gram matrix
   A·M·Aᵀ (a block of the one formed for all cells; updated from the last
   publication's when cells were only withdrawn), which give an orthonormal
   basis U of the respondent-level row space;
3. candidate atoms, pruned by multiplicity and leverage, and the subspace W
   of row-space vectors vanishing off them (U's candidate rows' singular
   directions with singular value 1), to a fixed point;
4. single atoms and pairs read off W's basis, triples and quadruples by
   meet-in-the-middle on random projections (or only the unions of the sets
   the last complete search found), which decides exactly when no set can
   hold more than four atoms; else a MILP (HiGHS) for a 0/1 vector of W
   with 1 ≤ mass ≤ threshold − 1;
5. for each set found, a sparse combination of the cells still published (a
   linear programme) checked in exact integer arithmetic on every atom.
"""

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.optimize._highspy import _core as _highs

from analytics.engine.disclosure.cells import Cell

MINIMUM_K = 5
MINIMUM_K_SENSITIVE = 10

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Eigenvalues of the equilibrated Gram matrix below this fraction of the largest
# are treated as zero. Rounding puts a true zero at about cells × 1e-16 of the
# largest; the smallest true non-zero eigenvalue of these 0/1 matrices sits many
# orders above (`Auditor.spectral_margin` records the gap).
_EIGENVALUE_TOLERANCE = 1e-10
# A candidate direction is in the row space when its squared singular value is
# 1 within this: erring high keeps more directions, which can only add
# candidate sets, and each found set is checked exactly.
_UNIT_TOLERANCE = 1e-8
# Slack on the leverage bound, in the direction that keeps candidates.
_LEVERAGE_SLACK = 1e-9
# Above this many candidates the first leverage pass gathers Gram entries
# instead of forming rows of U.
_GATHER_ABOVE = 4000
_GATHER_BLOCK = 8192
# The Gram matrix of all cells is summed over this many cell pairs at a time.
_GRAM_KEYS_AT_ONCE = 4_000_000
_COEFFICIENT_TOLERANCE = 1e-7
_DENOMINATOR_LIMIT = 10**6
_EXACT_SOLVE_MAX_CELLS = 60
_MILP_TIME_LIMIT_SECONDS = 300.0
# The combination's linear programme starts from this many atoms per published
# cell (a fixed seed keeps results reproducible) and adds missed atoms.
_SAMPLE_PER_CELL = 3
_SAMPLE_SEED = 20261117
_MAX_ROW_GENERATIONS = 30
_INDEPENDENT_TOLERANCE = 1e-8
# At most this many disjoint sets are reported from one pass.
_ATTACKS_PER_PASS = 25
_PAIRS_UP_TO = 3000
# Triples and quadruples of atoms are enumerated (meet-in-the-middle on this
# many random projections) up to this many candidates, with at most this many
# near matches to check; beyond, the MILP decides.
_ENUMERATE_UP_TO = 1500
_PROJECTIONS = 3
_MATCHES_AT_MOST = 2_000_000
# The sets found by a complete search are kept for the next pass up to this
# many, and their unions checked up to this many (else a full search).
_FAMILY_AT_MOST = 2000
_UNIONS_AT_MOST = 2000
# Up to this many candidate atoms the MILP uses the orthonormal complement
# (one dense QR of candidates × candidates, no continuous variables).
_COMPLEMENT_FORM_UP_TO = 1500
_REDUCED_ZERO = 1e-10
_SNAP_DENOMINATORS = 64


class AuditInconclusiveError(RuntimeError):
    """The audit could not decide (solver limit): publish nothing rather than guess."""


@dataclass(frozen=True)
class Attack:
    """A set of respondents whose count (and so every sum) the published cells determine.

    `combination` maps cell ids to the rational coefficients whose sum of
    cell indicators is the set's indicator. `threshold` is the k it breaks:
    k, or k_sensitive for a set made only of members of sensitive cells.
    `is_verified` is False only when the exact check could not confirm a set
    found in floating point; such a set is acted on all the same.

    The members and size are hidden figures: keep an `Attack` in memory, never
    in a log, a task result or the database (rule 4).
    """

    members: frozenset[int]
    combination: Mapping[str, Fraction]
    threshold: int
    is_verified: bool

    @property
    def size(self) -> int:
        """Return the number of respondents isolated."""
        return len(self.members)


@dataclass(frozen=True)
class _Mode:
    threshold: int
    is_sensitive_only: bool


@dataclass(frozen=True)
class _RowSpace:
    """One publication: its atoms and the geometry of its row space.

    Atoms here are the wave's atoms merged when no published cell tells them
    apart. Scaled atom columns are ã_a = offset + scale ∘ s_a (s_a: the atom's
    stored sets); `vectors`, `values` are the kept eigenpairs of the
    equilibrated Gram matrix.
    """

    rows: IntArray
    atom_of_fine: IntArray  # publication atom of each wave atom
    multiplicity: FloatArray
    is_sensitive: BoolArray  # every respondent of the atom is in a sensitive cell
    stored: Any  # csc: published rows × atoms, the stored (possibly complemented) sets
    offset: FloatArray  # complement flag / row norm
    scale: FloatArray  # ±1 / row norm
    row_norm: FloatArray  # √n of each published cell
    vectors: FloatArray
    values: FloatArray
    first: IntArray  # a wave atom of each publication atom
    cache: dict[str, Any] = field(default_factory=dict)


def _linear_programme_minimum(
    costs: FloatArray,
    equations: tuple[IntArray, IntArray, FloatArray],
    goal: FloatArray,
    *,
    lower: FloatArray,
    upper: FloatArray,
) -> FloatArray | None:
    """Return the x minimising costs·x with A·x = goal and lower ≤ x ≤ upper (A column-wise), or None.

    The HiGHS that scipy bundles (`scipy.optimize._highspy`, private but
    pinned with scipy in requirements.txt), given the model and options that
    `scipy.optimize.milp` gives it (no presolve, no output, every column
    continuous), without the wrapper's Python around the solve: per-column
    loops for the integrality and the bound multipliers cost about as much as
    the solve itself on these programmes (41 per audit of a 200-response
    wave). Same build, same model, same options: the same optimum, vertex for
    vertex (checked against `milp` on every programme of the benchmark and
    demo waves). None unless optimal.
    """
    column_starts, indices, values = equations
    columns = costs.size
    solver = _highs._Highs()
    if (
        solver.setOptionValue("log_to_console", False) == _highs.HighsStatus.kError
        or solver.setOptionValue("presolve", "off") == _highs.HighsStatus.kError
    ):
        return None
    status = solver.passModel(
        columns,
        goal.size,
        indices.size,
        int(_highs.MatrixFormat.kColwise),
        int(_highs.ObjSense.kMinimize),
        0.0,
        costs,
        lower,
        upper,
        goal,
        goal,
        column_starts.astype(np.int32),
        indices.astype(np.int32),
        values,
        np.zeros(columns, dtype=np.int32),  # every column continuous, as `milp` passes it
    )
    if status == _highs.HighsStatus.kError:
        return None
    if solver.run() == _highs.HighsStatus.kError:
        return None
    if solver.getModelStatus() != _highs.HighsModelStatus.kOptimal:
        return None
    return np.array(solver.getSolution().col_value, dtype=np.float64)


def validate_thresholds(*, k: int, k_sensitive: int) -> None:
    """Raise ValueError when k is below 5 or k_sensitive below 10 or below k (rule 1)."""
    if k < MINIMUM_K:
        raise ValueError(f"k must be at least {MINIMUM_K}")
    if k_sensitive < max(MINIMUM_K_SENSITIVE, k):
        raise ValueError(f"k_sensitive must be at least {MINIMUM_K_SENSITIVE} and at least k")


def _unique_rows(packed: npt.NDArray[np.uint8]) -> tuple[IntArray, IntArray]:
    """Return the first row of each distinct byte row and the distinct row of every row.

    Rows are told apart by a 64-bit hash of their bytes (a fixed random
    linear form over 8-byte words); the grouping is then checked byte for
    byte, and a collision (which the check would catch) falls back to sorting
    the rows themselves.
    """
    if packed.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    count, width = packed.shape
    words = np.zeros((count, max(1, -(-width // 8)) * 8), dtype=np.uint8)
    words[:, :width] = packed
    words_64 = words.view(np.uint64)
    weights = np.random.default_rng(_SAMPLE_SEED).integers(1, 2**63, size=words_64.shape[1], dtype=np.uint64)
    hashes = (words_64 * (weights | np.uint64(1))[None, :]).sum(axis=1, dtype=np.uint64)
    _hashes, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    first = np.asarray(first, dtype=np.int64)
    inverse = np.asarray(inverse, dtype=np.int64).ravel()
    if bool(np.array_equal(words_64[first][inverse], words_64)):
        return first, inverse
    rows = np.ascontiguousarray(packed)
    keys = rows.view(np.dtype((np.void, max(width, 1)))).ravel()
    _keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return np.asarray(first, dtype=np.int64), np.asarray(inverse, dtype=np.int64).ravel()


class Auditor:
    """The audit of one wave's candidate cells, for successively smaller publications.

    Build it once and call `find_attack` with the ids published in each round.
    A call reuses the respondents that earlier calls ruled out, which is sound
    because a smaller publication determines a subset of what a larger one
    determines; when the publication grows instead, it starts afresh.
    """

    def __init__(self, *, cells: Sequence[Cell], k: int = MINIMUM_K, k_sensitive: int = MINIMUM_K_SENSITIVE) -> None:
        validate_thresholds(k=k, k_sensitive=k_sensitive)
        self.cells = list(cells)
        self.index = {cell.id: position for position, cell in enumerate(self.cells)}
        if len(self.index) != len(self.cells):
            raise ValueError("cell ids must be unique")
        shapes = {np.shape(cell.members) for cell in self.cells}
        if len(shapes) > 1 or any(len(shape) != 1 for shape in shapes):
            raise ValueError("every cell's members must be a mask with one entry per respondent")
        self.modes = [_Mode(threshold=k, is_sensitive_only=False)]
        if any(cell.is_sensitive for cell in self.cells) and k_sensitive > k:
            self.modes.append(_Mode(threshold=k_sensitive, is_sensitive_only=True))
        self._build_atoms()
        # Per mode, the wave atoms not yet ruled out of every small determined set.
        self._candidates: dict[_Mode, BoolArray] = {}
        self._published: BoolArray | None = None
        # Per mode, every small set the last complete search found, as wave atoms (`_sets_from_family`).
        self._families: dict[_Mode, list[IntArray]] = {}
        # The last publication's kept eigenpairs (`_eigen`).
        self._last_eigen: tuple[BoolArray, FloatArray, FloatArray] | None = None
        # Wave atoms whose equations the combination programmes needed so far.
        self._equation_atoms = np.zeros(0, dtype=np.int64)
        # Diagnostics of the floating-point rank decisions, over every call so
        # far (larger is clearer): the smallest ratio of an eigenvalue kept to
        # one treated as zero, and the smallest 1 − σ² of a direction judged
        # outside the row space.
        self.spectral_margin = math.inf
        self.unit_margin = 1.0

    def _build_atoms(self) -> None:
        """Group respondents with the same membership in every cell into atoms.

        Each respondent's memberships are packed into bytes, one cell a bit
        (built byte row by byte row, never as a cells × respondents matrix),
        and the atoms are the distinct byte strings. The Gram matrix of the
        stored sets over all cells is formed here once: a publication's is a
        block of it.
        """
        respondents = self.cells[0].members.shape[0] if self.cells else 0
        count = len(self.cells)
        self.sizes = np.array([np.count_nonzero(cell.members) for cell in self.cells], dtype=np.int64)
        packed_by_cell = np.zeros(((count + 7) // 8, respondents), dtype=np.uint8)
        for position, cell in enumerate(self.cells):
            members = np.asarray(cell.members, dtype=np.bool_).view(np.uint8)
            packed_by_cell[position >> 3] |= members << np.uint8(7 - (position & 7))
        packed = np.ascontiguousarray(packed_by_cell.T)
        first, self.atom_of = _unique_rows(packed)
        self.multiplicity = np.bincount(self.atom_of, minlength=first.size).astype(np.float64)
        self.packed_atoms = np.ascontiguousarray(packed[first])
        # A cell with more than half of the wave is stored as its complement, so
        # "everyone else" remainders stay sparse.
        self.is_complement = 2 * self.sizes > respondents
        # The stored sets' bits, read byte by byte: only the non-zero bytes are unpacked.
        flipped = self.packed_atoms ^ np.packbits(self.is_complement)[None, :]
        byte_atom, byte = np.nonzero(flipped)
        bits = np.unpackbits(flipped[byte_atom, byte][:, None], axis=1)
        which, bit = np.nonzero(bits)
        atom, cell_of = byte_atom[which], byte[which] * 8 + bit
        indptr = np.concatenate([[0], np.cumsum(np.bincount(atom, minlength=first.size))])
        by_atom = sparse.csr_array((np.ones(atom.size), cell_of, indptr), shape=(first.size, count))
        # By cell (rows: the exact check) and by atom column (publications, programmes).
        self.stored = sparse.csr_array(by_atom.T)
        self.stored_columns = sparse.csc_array(by_atom.T)
        sensitive = np.packbits([cell.is_sensitive for cell in self.cells]) if count else np.zeros(0, np.uint8)
        self.is_sensitive_atom = np.any(self.packed_atoms & sensitive[None, :], axis=1)
        # Σ_a m_a·s_a·s_aᵀ over the pairs of stored cells of each atom (upper triangle, then mirrored),
        # over the distinct stored sets only: the remainder of a group holding less than half of the
        # wave is stored as the group's own set, so about half the cells are repeats, and an atom's
        # pairs four times fewer. A repeated set's row and column are copies (the same sums).
        representative, distinct_of = _distinct_rows(self.stored)
        by_distinct = sparse.csr_array(self.stored[representative].T)
        distinct = representative.size
        upper = np.zeros((distinct + 1) * (distinct + 1))
        keys: list[IntArray] = []
        weights: list[FloatArray] = []
        pending = 0
        for chosen, left, right, _diagonal in _cell_pairs(by_distinct, distinct):
            keys.append((left * (distinct + 1) + right).ravel())
            weights.append(np.repeat(self.multiplicity[chosen], left.shape[1]))
            pending += keys[-1].size
            if pending >= _GRAM_KEYS_AT_ONCE:
                upper += np.bincount(np.concatenate(keys), weights=np.concatenate(weights), minlength=upper.size)
                keys, weights, pending = [], [], 0
        if keys:
            upper += np.bincount(np.concatenate(keys), weights=np.concatenate(weights), minlength=upper.size)
        gram = upper.reshape(distinct + 1, distinct + 1)[:distinct, :distinct]
        gram = gram + gram.T - np.diag(np.diag(gram))
        self.stored_gram = np.ascontiguousarray(gram[np.ix_(distinct_of, distinct_of)])
        self.stored_mass = np.asarray(self.stored @ self.multiplicity, dtype=np.float64).ravel()

    @property
    def atom_count(self) -> int:
        """Return the number of atoms (distinct membership patterns over all candidate cells)."""
        return int(self.multiplicity.shape[0])

    def find_attack(self, *, published_ids: Collection[str]) -> Attack | None:
        """Return a set of too few respondents that the published cells determine, or None."""
        return next(self.find_attacks(published_ids=published_ids), None)

    def find_attacks(self, *, published_ids: Collection[str], withdrawn_ids: Collection[str] = ()) -> Iterator[Attack]:
        """Yield sets of too few respondents that the published cells determine; none when the audit passes.

        One pass over the publication: disjoint single atoms, pairs, triples
        and quadruples of atoms it determines, smallest first (at most
        `_ATTACKS_PER_PASS`), or else one set found by the MILP. Sets held to
        the plain threshold k come first; sets held to k_sensitive only when
        there are none. Once a cell is hidden because of one set, the others
        may no longer hold: `withdrawn_ids`, when given, is read again before
        each further set (pass a collection that the caller updates, such as
        its hidden ids), and a set is then yielded only if the cells still
        published isolate it, with a combination of those cells; otherwise it
        is left for the next pass.
        """
        unknown = set(published_ids) - set(self.index)
        if unknown:
            raise ValueError(f"unknown cell ids: {sorted(unknown)}")
        published = np.zeros(len(self.cells), dtype=np.bool_)
        published[[self.index[cell_id] for cell_id in published_ids]] = True
        if self._published is not None and bool(np.any(published & ~self._published)):
            self._candidates.clear()
            self._families.clear()
        self._published = published.copy()
        published &= self.sizes > 0
        if not bool(published.any()) or self.atom_count == 0:
            return
        space = self._row_space(published)
        if space.values.size == 0:
            return
        for mode in self.modes:
            found = self._find_in_mode(space, mode)
            if found:
                for atoms in found:
                    withdrawn = np.isin(space.rows, [self.index[i] for i in withdrawn_ids if i in self.index])
                    attack = self._attack(space, atoms, mode, withdrawn=withdrawn)
                    if attack is not None:
                        yield attack
                return

    def _row_space(self, published: BoolArray) -> _RowSpace:
        """Return the publication's atoms and an orthonormal description of its row space."""
        rows = np.flatnonzero(published)
        first, atom_of_fine = _unique_rows(self.packed_atoms & np.packbits(published)[None, :])
        multiplicity = np.bincount(atom_of_fine, weights=self.multiplicity, minlength=first.size).astype(np.float64)
        outside = np.bincount(atom_of_fine, weights=~self.is_sensitive_atom, minlength=first.size)
        stored = sparse.csc_array(self.stored_columns[:, first])[rows]
        complement = self.is_complement[rows].astype(np.float64)
        sign = 1.0 - 2.0 * complement
        # Published rows are constant on publication atoms, so their Gram block
        # over the wave's atoms is the same as over the publication's.
        stored_gram = self.stored_gram[np.ix_(rows, rows)]
        signed_mass = sign * self.stored_mass[rows]
        # A = c·1ᵀ + D·S (c: complement flags, D: signs, S: stored sets), so
        # A·M·Aᵀ = (1ᵀM1)·c·cᵀ + c·(D·S·M·1)ᵀ + (D·S·M·1)·cᵀ + D·S·M·Sᵀ·D.
        gram = (
            float(multiplicity.sum()) * np.outer(complement, complement)
            + np.outer(complement, signed_mass)
            + np.outer(signed_mass, complement)
            + sign[:, None] * stored_gram * sign[None, :]
        )
        # The diagonal holds each cell's n: dividing by √n equilibrates the rows.
        row_norm = np.sqrt(np.clip(np.diag(gram), 1.0, None))
        gram /= np.outer(row_norm, row_norm)
        vectors, values = self._eigen(published, gram)
        return _RowSpace(
            rows=rows,
            atom_of_fine=atom_of_fine,
            multiplicity=multiplicity,
            is_sensitive=outside == 0,
            stored=stored,
            offset=complement / row_norm,
            scale=sign / row_norm,
            row_norm=row_norm,
            vectors=vectors,
            values=values,
            first=first,
        )

    def _eigen(self, published: BoolArray, gram: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return the eigenpairs of the equilibrated Gram matrix kept as non-zero.

        When the publication only lost cells since the last call, they come
        from the last ones: with C = V·Λ^½ (a row per cell, CᵀC = Λ), the new
        Gram matrix is C'·C'ᵀ for the rows C' of the cells still published,
        so it is enough to diagonalise C'ᵀC' = Λ − C_dᵀ·C_d (C_d: the rows of
        the cells withdrawn), rank × rank instead of cells × cells:
        C'ᵀC' = W·Σ²·Wᵀ gives V' = C'·W·Σ⁻¹ and Λ' = Σ². Otherwise, a full
        eigendecomposition.
        """
        last = self._last_eigen
        if last is not None and not bool(np.any(published & ~last[0])):
            last_rows = np.flatnonzero(last[0])
            kept = np.isin(last_rows, np.flatnonzero(published))
            scaled = last[1] * np.sqrt(last[2])[None, :]
            withdrawn = scaled[~kept]
            values, rotation = np.linalg.eigh(np.diag(last[2]) - withdrawn.T @ withdrawn)
            keep = values > _EIGENVALUE_TOLERANCE * float(values[-1]) if values.size else values > 0
            self._note_spectrum(values, keep)
            vectors = (scaled[kept] @ rotation[:, keep]) / np.sqrt(values[keep])[None, :]
        else:
            values, vectors = np.linalg.eigh(gram)
            keep = values > _EIGENVALUE_TOLERANCE * float(values[-1]) if values.size else values > 0
            self._note_spectrum(values, keep)
            vectors = vectors[:, keep]
        vectors = np.ascontiguousarray(vectors)
        self._last_eigen = (published.copy(), vectors, values[keep])
        return vectors, values[keep]

    def _note_spectrum(self, values: FloatArray, keep: BoolArray) -> None:
        if bool(keep.any()) and not bool(keep.all()):
            dropped = float(np.max(np.abs(values[~keep])))
            self.spectral_margin = min(self.spectral_margin, float(values[keep].min()) / max(dropped, 1e-300))

    def _find_in_mode(self, space: _RowSpace, mode: _Mode) -> list[IntArray]:
        """Return the atom sets of the attacks found at this mode's threshold (empty when none)."""
        atoms = space.multiplicity.size
        possible = space.multiplicity <= mode.threshold - 1
        if mode.is_sensitive_only:
            possible &= space.is_sensitive
        carried = self._candidates.get(mode)
        if carried is not None:
            # A publication atom holding a respondent already ruled out cannot be in the set.
            possible &= np.bincount(space.atom_of_fine, weights=~carried, minlength=atoms) == 0
        candidates = np.flatnonzero(possible)
        if candidates.size > _GATHER_ABOVE:
            # Leverages do not depend on the mode: each atom's is computed once per publication.
            leverage = space.cache.setdefault("leverage", np.full(atoms, np.nan))
            missing = candidates[np.isnan(leverage[candidates])]
            if missing.size:
                leverage[missing] = self._leverage_by_gather(space, missing)
            candidates = candidates[leverage[candidates] >= self._bound(mode)]
        basis, candidates = self._subspace(space, candidates, mode)
        survivors = np.zeros(atoms, dtype=np.bool_)
        survivors[candidates] = True
        self._candidates[mode] = survivors[space.atom_of_fine]
        if basis.shape[1] == 0:
            self._families[mode] = []
            return []
        mass = space.multiplicity[candidates]
        family = self._families.pop(mode, None)
        sets = None if family is None else self._sets_from_family(space, candidates, basis, mass, mode, family)
        if sets is not None:
            found, is_complete = _disjoint(sets, mass), True
        else:
            found, is_complete, sets = self._small_sets(basis, mass, mode)
        if is_complete and sets.shape[0] <= _FAMILY_AT_MOST:
            self._families[mode] = self._wave_atoms(space, candidates, sets)
        if found or is_complete:
            return [candidates[positions] for positions in found]
        selected = self._solve(basis, mass, mode)
        return [] if selected is None else [candidates[selected]]

    def _wave_atoms(self, space: _RowSpace, candidates: IntArray, sets: IntArray) -> list[IntArray]:
        """Return each set of candidate positions (rows of four, padded with −1) as the wave atoms it holds."""
        order = np.argsort(space.atom_of_fine, kind="stable")
        bounds = np.searchsorted(space.atom_of_fine[order], np.arange(space.multiplicity.size + 1))
        family = []
        for row in sets:
            atoms = candidates[row[row >= 0]]
            family.append(np.sort(np.concatenate([order[bounds[atom] : bounds[atom + 1]] for atom in atoms])))
        return family

    def _sets_from_family(
        self,
        space: _RowSpace,
        candidates: IntArray,
        basis: FloatArray,
        mass: FloatArray,
        mode: _Mode,
        family: list[IntArray],
    ) -> IntArray | None:
        """Return every set of up to four candidates in the subspace, from the last complete search, or None.

        The last complete search listed, as wave atoms, every set it found
        (a superset of the minimal ones, since a set found through a smaller
        one only leaves out sets that contain it). A smaller publication
        isolates only sets that the larger one isolated, and those are
        disjoint unions of its minimal sets; so the sets now in the subspace
        are among the disjoint unions of members of `family` with mass ≤
        threshold − 1, each checked like a pair. None when there are more
        than `_UNIONS_AT_MOST` unions to check (the full search runs).
        """
        limit = mode.threshold - 1
        masses = [float(self.multiplicity[member].sum()) for member in family]
        unions: set[tuple[int, ...]] = set()
        stack: list[tuple[int, frozenset[int], float]] = [(0, frozenset(), 0.0)]
        while stack:
            start, atoms, total = stack.pop()
            for index in range(start, len(family)):
                if total + masses[index] > limit or not atoms.isdisjoint(family[index].tolist()):
                    continue
                union = atoms.union(family[index].tolist())
                unions.add(tuple(sorted(union)))
                if len(unions) > _UNIONS_AT_MOST:
                    return None
                stack.append((index + 1, union, total + masses[index]))
        position = np.full(space.multiplicity.size, -1, dtype=np.int64)
        position[candidates] = np.arange(candidates.size)
        rows: list[IntArray] = []
        for union_atoms in unions:
            wave = np.asarray(union_atoms, dtype=np.int64)
            atoms_now = np.unique(space.atom_of_fine[wave])
            places = position[atoms_now]
            # Skip a union that splits a publication atom or holds a ruled-out atom.
            if atoms_now.size > 4 or bool(np.any(places < 0)):
                continue
            if float(space.multiplicity[atoms_now].sum()) != float(self.multiplicity[wave].sum()):
                continue
            rows.append(places)
        if not rows:
            return np.zeros((0, 4), dtype=np.int64)
        return _inside(basis, mass, np.concatenate([_padded(np.sort(row)[None, :]) for row in rows]))

    @staticmethod
    def _small_sets(basis: FloatArray, mass: FloatArray, mode: _Mode) -> tuple[list[IntArray], bool, IntArray]:
        """Return disjoint sets of up to four atoms whose indicator lies in the subspace, smallest first.

        The vector v = √m ∘ w lies in the span of the orthonormal basis Y
        exactly when ‖Yᵀv‖² = ‖v‖². Single atoms and pairs are read off K =
        Y·Yᵀ (up to `_PAIRS_UP_TO` candidates). Triples and quadruples are
        found by meet-in-the-middle on random projections (`_zero_sums`), up
        to `_ENUMERATE_UP_TO` candidates, leaving out the atoms and pairs
        already found (a larger set holding one is found through it). The
        second value tells whether the search was complete: every set with
        mass ≤ threshold − 1 has at most `_most_atoms` atoms, and when every
        size up to that was searched an empty answer proves that there is no
        set, with no MILP. The third is every set found (rows of four
        candidate positions, padded with −1).
        """
        limit = mode.threshold - 1
        count = mass.size
        most = _most_atoms(mass, limit)
        diagonal = np.einsum("ij,ij->i", basis, basis) * mass
        singles = diagonal >= mass * (1.0 - _UNIT_TOLERANCE)
        found = [_padded(np.flatnonzero(singles)[:, None])]
        searched = 1
        if most >= 2 and count <= _PAIRS_UP_TO:
            root = np.sqrt(mass)
            captured = diagonal[:, None] + diagonal[None, :] + 2.0 * root[:, None] * (basis @ basis.T) * root[None, :]
            total = mass[:, None] + mass[None, :]
            pairs = (captured >= total * (1.0 - _UNIT_TOLERANCE)) & (total <= limit)
            pairs &= ~singles[:, None] & ~singles[None, :]
            found.append(_padded(np.argwhere(np.triu(pairs, k=1))))
            searched = 2
            if most >= 3 and count <= _ENUMERATE_UP_TO:
                larger = _zero_sums(basis, mass, limit=limit, most=most, singles=singles, pairs=pairs)
                if larger is not None:
                    found.append(larger)
                    searched = min(most, 4)
        sets = np.concatenate(found)
        return _disjoint(sets, mass), searched >= most, sets

    @staticmethod
    def _bound(mode: _Mode) -> float:
        # 1_S/√|S| is a unit vector of the row space, so each member's leverage is ≥ 1/|S| ≥ 1/(threshold − 1).
        return 1.0 / (mode.threshold - 1) - _LEVERAGE_SLACK

    @staticmethod
    def _basis_rows(space: _RowSpace, atoms: IntArray) -> FloatArray:
        """Return the rows of the orthonormal row-space basis U for `atoms` (√m_a · ã_aᵀ · V · Λ^−½)."""
        coefficients = space.vectors / np.sqrt(space.values)[None, :]
        columns = space.stored[:, atoms].T.tocsr()
        rows = columns @ (space.scale[:, None] * coefficients) + (space.offset @ coefficients)[None, :]
        return np.asarray(rows, dtype=np.float64) * np.sqrt(space.multiplicity[atoms])[:, None]

    @staticmethod
    def _leverage_by_gather(space: _RowSpace, atoms: IntArray) -> FloatArray:
        """Return respondent leverages ãᵀ·P·ã (P = V·Λ⁻¹·Vᵀ) from the few stored cells of each atom."""
        projector = (space.vectors / space.values[None, :]) @ space.vectors.T
        cells = projector.shape[0]
        padded = np.zeros((cells + 1, cells + 1))
        padded[:cells, :cells] = space.scale[:, None] * projector * space.scale[None, :]
        constant = float(space.offset @ projector @ space.offset)
        linear = space.scale * (projector @ space.offset)
        columns = space.stored[:, atoms].T.tocsr()
        lengths = np.diff(columns.indptr)
        leverage = constant + 2.0 * np.asarray(columns @ linear, dtype=np.float64)
        width = int(lengths.max()) if lengths.size else 0
        if width == 0:
            return leverage
        flat = padded.ravel()
        for chosen, left, right, diagonal in _cell_pairs(columns, cells):
            weight = np.where(diagonal, 1.0, 2.0)
            leverage[chosen] += (flat[left * (cells + 1) + right] * weight[None, :]).sum(axis=1)
        return leverage

    def _subspace(self, space: _RowSpace, candidates: IntArray, mode: _Mode) -> tuple[FloatArray, IntArray]:
        """Return an orthonormal basis (scaled by √m) of the row-space vectors vanishing off the candidates.

        Iterates to a fixed point: keep the directions of the candidate rows
        of U with singular value 1, drop the atoms whose leverage in them is
        below the bound, repeat.
        """
        basis = self._basis_rows(space, candidates)
        bound = self._bound(mode)
        while candidates.size:
            left, singular, _right = np.linalg.svd(basis, full_matrices=False)
            inside = singular**2 >= 1.0 - _UNIT_TOLERANCE
            if not bool(inside.all()):
                self.unit_margin = min(self.unit_margin, 1.0 - float(np.max(singular[~inside])) ** 2)
            basis = left[:, inside]
            if basis.shape[1] == 0:
                break
            alive = np.einsum("ij,ij->i", basis, basis) / space.multiplicity[candidates] >= bound
            if bool(alive.all()):
                return basis, candidates
            candidates = candidates[alive]
            basis = basis[alive]
        return np.zeros((candidates.size, 0)), candidates

    @staticmethod
    def _solve(basis: FloatArray, mass: FloatArray, mode: _Mode) -> IntArray | None:
        """Return the positions of a 0/1 vector w in the subspace with 1 ≤ m·w ≤ threshold − 1, or None.

        v = √m ∘ w must lie in the span of the orthonormal basis Y. With few
        candidates that is Qᵀv = 0 for an orthonormal complement Q of Y, in
        reduced row echelon form; otherwise v = Y·ν with free coordinates ν.
        """
        count, dimension = basis.shape
        limits = (1.0, float(mode.threshold - 1))
        if count <= _COMPLEMENT_FORM_UP_TO:
            complement = np.linalg.qr(basis, mode="complete")[0][:, dimension:]
            costs = np.zeros(count)
            integrality = np.ones(count)
            bounds = Bounds(0.0, 1.0)
            constraints = [LinearConstraint(mass[None, :], *limits)]
            if complement.shape[1]:
                constraints.append(LinearConstraint(_reduced_rows(complement.T * np.sqrt(mass)[None, :]), 0.0, 0.0))
        else:
            costs = np.zeros(count + dimension)
            integrality = np.concatenate([np.ones(count), np.zeros(dimension)])
            bounds = Bounds(
                np.concatenate([np.zeros(count), np.full(dimension, -np.inf)]),
                np.concatenate([np.ones(count), np.full(dimension, np.inf)]),
            )
            constraints = [
                LinearConstraint(
                    sparse.hstack([sparse.diags_array(np.sqrt(mass)), sparse.csr_array(-basis)]).tocsr(), 0.0, 0.0
                ),
                LinearConstraint(np.concatenate([mass, np.zeros(dimension)])[None, :], *limits),
            ]
        # HiGHS's presolve has been seen to call a feasible problem of this
        # kind infeasible, so no set is declared absent unless a solve without
        # presolve agrees.
        for presolve in (True, False):
            result = milp(
                c=costs,
                integrality=integrality,
                bounds=bounds,
                constraints=constraints,
                options={"time_limit": _MILP_TIME_LIMIT_SECONDS, "disp": False, "presolve": presolve},
            )
            if result.x is not None and result.status in (0, 1):
                return np.flatnonzero(np.asarray(result.x[:count]) > 0.5)
            if result.status != 2:
                raise AuditInconclusiveError(f"the audit's MILP stopped without an answer: {result.message}")
        return None

    def _attack(self, space: _RowSpace, atoms: IntArray, mode: _Mode, *, withdrawn: BoolArray) -> Attack | None:
        """Return the attack on these publication atoms, or None when the withdrawn cells were needed."""
        selected = np.zeros(space.multiplicity.size, dtype=np.bool_)
        selected[atoms] = True
        target = selected[space.atom_of_fine].astype(np.int64)
        coefficients = self._sparse_combination(space, atoms, withdrawn=withdrawn)
        if coefficients is None:
            return None
        combination, is_verified = self._exact_combination(space, coefficients, target)
        members = np.flatnonzero(target[self.atom_of] == 1)
        return Attack(
            members=frozenset(int(respondent) for respondent in members),
            combination={self.cells[row].id: value for row, value in sorted(combination.items())},
            threshold=mode.threshold,
            is_verified=is_verified,
        )

    def _sparse_combination(self, space: _RowSpace, atoms: IntArray, *, withdrawn: BoolArray) -> FloatArray | None:
        """Return cell coefficients λ (published rows) with Aᵀλ = the set's indicator, of small weighted L1 norm.

        A linear programme with one equation per publication atom a: t +
        Σ_j ±s_ja·λ_j = w_a, where t = Σ of λ_j over complemented cells keeps
        the remainders sparse; it minimises Σ √n_j·|λ_j|, which prefers small
        cells. The equations are generated lazily: solve for the set's atoms
        and the atoms kept from earlier programmes (at first a sample), add
        every atom the solution misses, and repeat, which ends with a solution
        of the whole system (and an optimal one, since every subset of the
        equations gives a lower bound). The atoms of a programme that ended
        are kept for the next: once their columns span A's column space, their
        equations imply all the others (w is in the row space), and they still
        span it for any smaller publication (fewer rows), so later programmes
        need no generation. Withdrawn cells keep λ_j = 0; None when the
        programme then has no solution (the cells left do not isolate the
        set). Should the solver fail otherwise, the minimum-norm solution from
        the eigenbasis stands in.
        """
        cells = space.rows.size
        count = space.multiplicity.size
        target = np.zeros(count)
        target[atoms] = 1.0
        sign = space.scale * space.row_norm
        if self._equation_atoms.size:
            known = np.unique(space.atom_of_fine[self._equation_atoms])
        else:
            generator = np.random.default_rng(_SAMPLE_SEED)
            sample = generator.choice(count, size=min(count, _SAMPLE_PER_CELL * cells), replace=False)
            known = self._independent_atoms(space, np.sort(sample))
        rows = np.union1d(atoms, known)
        generated = not self._equation_atoms.size
        # λ = λ⁺ − λ⁻ ≥ 0 each, both held at 0 on withdrawn cells.
        upper = np.where(withdrawn, 0.0, np.inf)
        lower = np.concatenate([[-np.inf], np.zeros(2 * cells)])
        upper_bounds = np.concatenate([[np.inf], upper, upper])
        costs = np.concatenate([[0.0], space.row_norm, space.row_norm])
        for _iteration in range(_MAX_ROW_GENERATIONS):
            goal = np.concatenate([target[rows], [0.0]])
            solution = _linear_programme_minimum(
                costs, self._combination_equations(space, rows), goal, lower=lower, upper=upper_bounds
            )
            if solution is None:
                break
            coefficients = solution[1 : 1 + cells] - solution[1 + cells :]
            missed = np.flatnonzero(
                np.abs(solution[0] + space.stored.T @ (sign * coefficients) - target) > _COEFFICIENT_TOLERANCE
            )
            if missed.size == 0:
                if generated:
                    rows = self._independent_atoms(space, rows)
                self._equation_atoms = np.union1d(self._equation_atoms, space.first[rows])
                return coefficients
            rows = np.union1d(rows, missed)
            generated = True
        if bool(withdrawn.any()):
            # Not isolated by the cells left (or undecided): the next pass judges it afresh.
            return None
        columns = space.stored[:, atoms].toarray()
        image = (space.offset[:, None] + space.scale[:, None] * columns) @ space.multiplicity[atoms]
        particular = space.vectors @ ((space.vectors.T @ image) / space.values)
        return np.asarray(particular / space.row_norm, dtype=np.float64)

    def _independent_atoms(self, space: _RowSpace, atoms: IntArray) -> IntArray:
        """Return a subset of the atoms whose columns of A are linearly independent and span those of all of them.

        Works on their rows of the orthonormal basis U (same dependencies as
        their columns of A). Only the speed of the combination programme
        depends on it: missed equations are generated anyway.
        """
        if atoms.size == 0:
            return atoms
        rows = self._basis_rows(space, atoms)
        # LU with partial pivoting picks independent rows of a matrix of full
        # column rank; when the atoms do not span, the steps with a zero pivot
        # are dropped (generation adds what is missing).
        placed, _lower, upper = scipy.linalg.lu(rows, p_indices=True, check_finite=False)
        steps = min(rows.shape)
        permutation = np.argsort(placed)  # the row of `rows` taken at each step
        diagonal = np.abs(np.diag(upper)[:steps])
        if diagonal.size == 0 or float(diagonal.max()) == 0.0:
            return atoms[:0]
        keep = diagonal > _INDEPENDENT_TOLERANCE * float(diagonal.max())
        return np.sort(atoms[permutation[:steps][keep]])

    @staticmethod
    def _combination_equations(space: _RowSpace, rows: IntArray) -> tuple[IntArray, IntArray, FloatArray]:
        """Return the programme's equations for these publication atoms as a column-wise sparse matrix.

        Rows: one per atom, then t's equation; columns: t (all ones), λ⁺,
        λ⁻. λ_j⁺'s column holds the cell's stored set on these atoms times its
        sign (−1 for a complemented cell) and −1 in t's row when the cell is
        complemented; λ⁻'s columns are the negatives. Built directly in the
        layout HiGHS takes, entry for entry what scipy's sparse stacking gave:
        that stacking cost about as much as the solve on a small wave.
        """
        block = space.stored[:, rows].tocsr()
        block.sort_indices()
        lengths = np.diff(block.indptr)
        if "complemented" not in space.cache:
            space.cache["complemented"] = space.offset > 0
        complemented = space.cache["complemented"]
        sign = space.scale * space.row_norm
        equation_count = rows.size + 1
        column_lengths = lengths + complemented
        starts = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(column_lengths, out=starts[1:])
        entries = int(starts[-1])
        indices = np.empty(entries, dtype=np.int64)
        values = np.empty(entries, dtype=np.float64)
        destination = np.arange(block.nnz, dtype=np.int64) + np.repeat(starts[:-1] - block.indptr[:-1], lengths)
        indices[destination] = block.indices
        values[destination] = block.data * np.repeat(sign, lengths)
        last = starts[1:][complemented] - 1
        indices[last] = rows.size
        values[last] = -1.0
        column_starts = np.concatenate([[0], equation_count + starts, equation_count + entries + starts[1:]])
        all_indices = np.concatenate([np.arange(equation_count, dtype=np.int64), indices, indices])
        all_values = np.concatenate([np.ones(equation_count), values, -values])
        return column_starts, all_indices, all_values

    def _exact_combination(
        self, space: _RowSpace, coefficients: FloatArray, target: IntArray
    ) -> tuple[dict[int, Fraction], bool]:
        """Return the combination keyed by cell position, and whether Σ λ_j·1[cell_j] = target holds exactly."""
        support = [
            int(space.rows[position]) for position in np.flatnonzero(np.abs(coefficients) > _COEFFICIENT_TOLERANCE)
        ]
        values = coefficients[np.abs(coefficients) > _COEFFICIENT_TOLERANCE]
        rounded = {
            row: Fraction(float(value)).limit_denominator(_DENOMINATOR_LIMIT)
            for row, value in zip(support, values, strict=True)
        }
        rounded = {row: value for row, value in rounded.items() if value != 0}
        if self._combination_is_exact(rounded, target):
            return rounded, True
        if 0 < len(support) <= _EXACT_SOLVE_MAX_CELLS:
            solved = self._solve_exactly(support, target)
            if solved is not None and self._combination_is_exact(solved, target):
                return solved, True
        return rounded, False

    def _indicator_columns(self, rows: Sequence[int]) -> IntArray:
        """Return the wave atoms × rows 0/1 membership matrix of the given cells."""
        positions = np.asarray(rows, dtype=np.int64)
        stored = self.stored[positions].toarray().astype(np.int64)
        return np.asarray((stored ^ self.is_complement[positions].astype(np.int64)[:, None]).T, dtype=np.int64)

    def _combination_is_exact(self, combination: Mapping[int, Fraction], target: IntArray) -> bool:
        """Return whether Σ λ_j·1[cell_j] equals the target on every wave atom, in exact integer arithmetic."""
        if not combination:
            return False
        denominator = math.lcm(*(value.denominator for value in combination.values()))
        numerators = [int(value * denominator) for value in combination.values()]
        indicators = self._indicator_columns(list(combination))
        if max(denominator, *(abs(value) for value in numerators)) * len(numerators) < 2**62:
            sums = indicators @ np.asarray(numerators, dtype=np.int64)
            return bool(np.array_equal(sums, target * denominator))
        exact = indicators.astype(object) @ np.asarray(numerators, dtype=object)
        return all(int(value) == int(goal) * denominator for value, goal in zip(exact, target, strict=True))

    def _solve_exactly(self, rows: Sequence[int], target: IntArray) -> dict[int, Fraction] | None:
        """Solve Σ λ_j·1[cell_j] = target over the given cells by Gaussian elimination in fractions."""
        indicators = self._indicator_columns(rows)
        goal_of: dict[tuple[int, ...], int] = {}
        for pattern, goal in zip(map(tuple, indicators.tolist()), target.tolist(), strict=True):
            # Atoms alike on these cells but with different targets: no combination of them exists.
            if goal_of.setdefault(pattern, goal) != goal:
                return None
        augmented = [[Fraction(value) for value in pattern] + [Fraction(goal)] for pattern, goal in goal_of.items()]
        solution = _solve_fractions(augmented, len(rows))
        if solution is None:
            return None
        return {row: value for row, value in zip(rows, solution, strict=True) if value != 0}


def _distinct_rows(matrix: Any) -> tuple[IntArray, IntArray]:
    """Return the first row of each distinct row of a 0/1 CSR matrix, and the distinct row of every row.

    Rows are told apart by their length and a 64-bit hash of their column
    indices (a sum of fixed random words), then checked index by index; a row
    that matches no earlier row exactly starts a distinct row itself.
    """
    matrix = sparse.csr_array(matrix).sorted_indices()
    rows = matrix.shape[0]
    indptr = np.asarray(matrix.indptr, dtype=np.int64)
    indices = np.asarray(matrix.indices, dtype=np.int64)
    words = np.random.default_rng(_SAMPLE_SEED).integers(1, 2**63, size=max(matrix.shape[1], 1), dtype=np.uint64)
    # Sums modulo 2⁶⁴ over each row's indices, as differences of a running sum (an empty row gives 0).
    running = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(words[indices], dtype=np.uint64)])
    keys = zip((running[indptr[1:]] - running[indptr[:-1]]).tolist(), np.diff(indptr).tolist(), strict=True)
    representative: list[int] = []
    distinct_of = np.empty(rows, dtype=np.int64)
    seen: dict[tuple[int, int], list[int]] = {}
    for row, key in enumerate(keys):
        places = seen.setdefault(key, [])
        for place in places:
            first = representative[place]
            if np.array_equal(indices[indptr[first] : indptr[first + 1]], indices[indptr[row] : indptr[row + 1]]):
                distinct_of[row] = place
                break
        else:
            places.append(len(representative))
            distinct_of[row] = len(representative)
            representative.append(row)
    return np.asarray(representative, dtype=np.int64), distinct_of


def _cell_pairs(by_atom: Any, cells: int) -> Iterator[tuple[IntArray, IntArray, IntArray, BoolArray]]:
    """Yield, block by block of atoms, every pair (j ≤ l) of the stored cells of each atom.

    `by_atom` is an atoms × cells CSR matrix. Each block holds atoms with
    about as many stored cells (sorted by count), padded with the index
    `cells`; it yields the block's atoms, the left and right cell of each pair
    (one row per atom) and which pairs are a cell with itself.
    """
    lengths = np.diff(by_atom.indptr)
    width = int(lengths.max()) if lengths.size else 0
    if width == 0:
        return
    index = np.full((lengths.size, width), cells, dtype=np.int64)
    offsets = np.arange(by_atom.indices.size) - np.repeat(by_atom.indptr[:-1], lengths)
    index[np.repeat(np.arange(lengths.size), lengths), offsets] = by_atom.indices
    by_length = np.argsort(lengths, kind="stable")
    start = 0
    while start < lengths.size:
        wide = max(int(lengths[by_length[min(start + 1, lengths.size) - 1]]), 1)
        block = max(1, _GATHER_BLOCK * 64 // (wide * wide))
        wide = max(int(lengths[by_length[min(start + block, lengths.size) - 1]]), 1)
        block = min(block, max(1, _GATHER_BLOCK * 128 // (wide * (wide + 1))))
        chosen = by_length[start : start + block]
        part = np.sort(index[chosen, :wide], axis=1)
        first, second = np.triu_indices(wide)
        yield chosen, part[:, first], part[:, second], first == second
        start += block


def _most_atoms(mass: FloatArray, limit: int) -> int:
    """Return the largest number of atoms whose masses add up to at most `limit`."""
    return int(np.searchsorted(np.cumsum(np.sort(mass)), limit + 0.5, side="left"))


def _matches(left: FloatArray, right: FloatArray, tolerance: FloatArray) -> tuple[IntArray, IntArray] | None:
    """Return the index pairs (i, j) with |left_i + right_j| ≤ tolerance in every coordinate.

    The larger side is bucketed on a grid over the first two coordinates,
    buckets twice as wide as the tolerance, so the matches of an item of the
    other side lie in at most 2 × 2 buckets, each found by bisection over
    the sorted bucket keys. None when more than `_MATCHES_AT_MOST` pairs
    fall in those buckets (or the grid would not fit in 64-bit keys).
    """
    if left.shape[0] > right.shape[0]:
        swapped = _matches(right, left, tolerance)
        return None if swapped is None else (swapped[1], swapped[0])
    if right.shape[0] == 0 or left.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    width = 2.0 * tolerance[:2]
    right_bucket = np.floor(right[:, :2] / width[None, :])
    lowest = np.floor((-left[:, :2] - tolerance[None, :2]) / width[None, :])
    highest = np.floor((-left[:, :2] + tolerance[None, :2]) / width[None, :])
    low = np.minimum(right_bucket.min(axis=0), lowest.min(axis=0))
    high = np.maximum(right_bucket.max(axis=0), highest.max(axis=0))
    stride = float(high[1] - low[1] + 1.0)
    if not np.isfinite(stride) or (float(high[0] - low[0]) + 1.0) * stride > 2.0**62:
        return None
    right_key = ((right_bucket[:, 0] - low[0]) * stride + (right_bucket[:, 1] - low[1])).astype(np.int64)
    base = ((lowest[:, 0] - low[0]) * stride + (lowest[:, 1] - low[1])).astype(np.int64)
    spans = highest > lowest  # the window reaches into the next bucket
    # Sorted queries make the bisections walk the keys in order.
    queries = np.argsort(base, kind="stable")
    base, spans = base[queries], spans[queries]
    order = np.argsort(right_key, kind="stable")
    keys = right_key[order]
    firsts: list[IntArray] = []
    seconds: list[IntArray] = []
    total = 0
    for step_0, step_1 in ((0, 0), (0, 1), (1, 0), (1, 1)):
        wanted = base + int(step_0 * stride) + step_1
        start = np.searchsorted(keys, wanted, side="left")
        counts = np.searchsorted(keys, wanted, side="right") - start
        if step_0:
            counts[~spans[:, 0]] = 0
        if step_1:
            counts[~spans[:, 1]] = 0
        found = int(counts.sum())
        total += found
        if total > _MATCHES_AT_MOST:
            return None
        offsets = np.cumsum(counts) - counts
        firsts.append(np.repeat(queries, counts))
        seconds.append(order[np.arange(found) + np.repeat(start - offsets, counts)])
    first = np.concatenate(firsts)
    second = np.concatenate(seconds)
    close = np.all(np.abs(left[first] + right[second]) <= tolerance[None, :], axis=1)
    return first[close], second[close]


def _padded(sets: IntArray) -> IntArray:
    """Return sets of atoms (one per row) as rows of four, padded with −1."""
    padded = np.full((sets.shape[0], 4), -1, dtype=np.int64)
    padded[:, : sets.shape[1]] = sets
    return padded


def _zero_sums(
    basis: FloatArray, mass: FloatArray, *, limit: int, most: int, singles: BoolArray, pairs: BoolArray
) -> IntArray | None:
    """Return the sets of three or four atoms (up to `most`) in the subspace with mass ≤ limit, or None.

    Atoms in `singles` and pairs in `pairs` (found already) are left out.
    With P the orthogonal projector off span(Y), v = √m ∘ w lies in the
    span iff P·v = Σ_a √m_a·P·e_a = 0. Projected on a random direction r,
    each atom gets the number p_a = √m_a·(P·r)_a and a set in the span has Σ
    p_a = 0 on every direction. Sets within the audit's tolerance (‖P·v‖² ≤
    `_UNIT_TOLERANCE`·‖v‖², ‖v‖² ≤ limit) have |Σ p_a| ≤ ‖P·r‖·√(tolerance ·
    limit), so matching within that bound misses none of them: triples are
    pairs (a < b) matched with atoms c > b, quadruples pairs (a < b) matched
    with pairs (c < d), c > b (`_matches`). Every match is then checked with
    ‖Yᵀv‖² ≥ ‖v‖²·(1 − `_UNIT_TOLERANCE`), the same test as single atoms and
    pairs. Rows of four, padded with −1; None when the matches are too many
    to check (the MILP decides instead).
    """
    count = mass.size
    generator = np.random.default_rng(_SAMPLE_SEED)
    directions = generator.standard_normal((count, _PROJECTIONS))
    residual = directions - basis @ (basis.T @ directions)
    tolerance = 1.01 * np.sqrt(_UNIT_TOLERANCE * limit) * np.linalg.norm(residual, axis=0) + 1e-12
    root = np.sqrt(mass)
    projected = residual * root[:, None]
    lightest = float(mass.min())
    first, second = np.triu_indices(count, 1)
    pair_mass = mass[first] + mass[second]
    usable = (pair_mass <= limit - lightest) & ~singles[first] & ~singles[second] & ~pairs[first, second]
    first, second, pair_mass = first[usable], second[usable], pair_mass[usable]
    sums = projected[first] + projected[second]
    alone = np.flatnonzero(~singles)
    triples = _matches(sums, projected[alone], tolerance)
    if triples is None:
        return None
    pair, third = triples[0], alone[triples[1]]
    keep = (third > second[pair]) & (pair_mass[pair] + mass[third] <= limit)
    candidates = [_padded(np.stack([first[pair[keep]], second[pair[keep]], third[keep]], axis=1))]
    if most >= 4:
        lower = np.flatnonzero(pair_mass <= limit - 2 * lightest)
        quadruples = _matches(sums[lower], sums[lower], tolerance)
        if quadruples is None:
            return None
        left, right = lower[quadruples[0]], lower[quadruples[1]]
        keep = (first[right] > second[left]) & (pair_mass[left] + pair_mass[right] <= limit)
        left, right = left[keep], right[keep]
        candidates.append(np.stack([first[left], second[left], first[right], second[right]], axis=1))
    return _inside(basis, mass, np.concatenate(candidates))


def _inside(basis: FloatArray, mass: FloatArray, sets: IntArray) -> IntArray:
    """Return the sets (rows of four positions, padded with −1) with ‖Yᵀv‖² ≥ ‖v‖²·(1 − `_UNIT_TOLERANCE`)."""
    members = sets >= 0
    safe = np.maximum(sets, 0)
    vectors = np.einsum("sk,skd->sd", np.sqrt(mass)[safe] * members, basis[safe])
    total = (mass[safe] * members).sum(axis=1)
    inside = np.einsum("sd,sd->s", vectors, vectors) >= total * (1.0 - _UNIT_TOLERANCE)
    return np.asarray(sets[inside], dtype=np.int64)


def _disjoint(sets: IntArray, mass: FloatArray) -> list[IntArray]:
    """Return disjoint sets (rows of four positions, padded with −1), smallest first, at most `_ATTACKS_PER_PASS`."""
    total_mass = np.where(sets >= 0, mass[np.maximum(sets, 0)], 0.0).sum(axis=1)
    last = sets.max(axis=1)
    order = np.lexsort((sets[:, 3], sets[:, 2], sets[:, 1], last, sets[:, 0], total_mass))
    used = np.zeros(mass.size, dtype=np.bool_)
    chosen: list[IntArray] = []
    for row in sets[order]:
        atoms = row[row >= 0]
        if bool(used[atoms].any()):
            continue
        used[atoms] = True
        chosen.append(atoms.astype(np.int64))
        if len(chosen) == _ATTACKS_PER_PASS:
            break
    return chosen


def _reduced_rows(matrix: FloatArray) -> Any:
    """Return the reduced row echelon form B⁻¹·matrix (B: pivot columns) of a full-row-rank matrix, sparse.

    Same row space, but mostly zeros and small rationals: a MILP on these rows
    propagates far better than on dense orthonormal ones.
    """
    rank = matrix.shape[0]
    if rank == 0:
        return sparse.csr_array(matrix)
    _orthogonal, upper, pivots = scipy.linalg.qr(matrix, mode="economic", pivoting=True)
    reduced = np.empty_like(matrix)
    reduced[:, pivots] = scipy.linalg.solve_triangular(upper[:, :rank], upper)
    reduced[np.abs(reduced) < _REDUCED_ZERO] = 0.0
    # The exact entries are rationals, mostly with small denominators: undo the rounding noise.
    snapped = np.zeros_like(reduced, dtype=np.bool_)
    for denominator in range(1, _SNAP_DENOMINATORS + 1):
        scaled = reduced * denominator
        near = ~snapped & (np.abs(scaled - np.round(scaled)) < _REDUCED_ZERO * denominator)
        reduced[near] = np.round(scaled[near]) / denominator
        snapped |= near
    return sparse.csr_array(reduced)


def _solve_fractions(augmented: list[list[Fraction]], unknowns: int) -> list[Fraction] | None:
    """Return a solution of the augmented system (free unknowns set to 0), or None when inconsistent."""
    pivots: list[int] = []
    row_count = len(augmented)
    rank = 0
    for column in range(unknowns):
        pivot = next((row for row in range(rank, row_count) if augmented[row][column] != 0), None)
        if pivot is None:
            continue
        augmented[rank], augmented[pivot] = augmented[pivot], augmented[rank]
        lead = augmented[rank][column]
        augmented[rank] = [value / lead for value in augmented[rank]]
        for row in range(row_count):
            factor = augmented[row][column]
            if row != rank and factor != 0:
                augmented[row] = [
                    value - factor * base for value, base in zip(augmented[row], augmented[rank], strict=True)
                ]
        pivots.append(column)
        rank += 1
    if any(augmented[row][unknowns] != 0 for row in range(rank, row_count)):
        return None
    solution = [Fraction(0)] * unknowns
    for row, column in enumerate(pivots):
        solution[column] = augmented[row][unknowns]
    return solution


def audit(
    *,
    cells: Sequence[Cell],
    published_ids: Collection[str],
    k: int = MINIMUM_K,
    k_sensitive: int = MINIMUM_K_SENSITIVE,
) -> Attack | None:
    """Return a set of respondents that the published cells isolate below its threshold, or None.

    Exact: None means no set of 1..k−1 respondents (1..k_sensitive−1 made only
    of members of sensitive cells) has a count determined by any rational
    combination of the published cells' counts.
    """
    return Auditor(cells=cells, k=k, k_sensitive=k_sensitive).find_attack(published_ids=published_ids)
