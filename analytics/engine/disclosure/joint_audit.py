"""The joint audit (PRIVACY.md rule 4): can the published cells isolate too few respondents?

The package docstring (`analytics.engine.disclosure`) gives the method and
why each reduction keeps every isolated set. Per publication:

1. publication atoms and the published cell × atom matrix A, kept sparse
   (a cell holding more than half of the wave is stored as its complement);
2. the eigendecomposition of the row-equilibrated, multiplicity-weighted
   Gram matrix A·M·Aᵀ, which gives an orthonormal basis U of the
   respondent-level row space;
3. candidate atoms, pruned by multiplicity and leverage, and the subspace W
   of row-space vectors vanishing off them (U's candidate rows' singular
   directions with singular value 1), to a fixed point;
4. single atoms and pairs read off W's basis, else a MILP (HiGHS) for a 0/1
   vector of W with 1 ≤ mass ≤ threshold − 1;
5. for each set found, a sparse combination of cells (a linear programme)
   checked in exact integer arithmetic on every atom.
"""

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

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
_COEFFICIENT_TOLERANCE = 1e-7
_DENOMINATOR_LIMIT = 10**6
_EXACT_SOLVE_MAX_CELLS = 60
_MILP_TIME_LIMIT_SECONDS = 300.0
# The combination's linear programme starts from this many atoms per published
# cell (a fixed seed keeps results reproducible) and adds missed atoms.
_SAMPLE_PER_CELL = 3
_SAMPLE_SEED = 20261117
_MAX_ROW_GENERATIONS = 30
# At most this many single atoms and pairs are reported from one pass.
_ATTACKS_PER_PASS = 25
_PAIRS_UP_TO = 3000
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
    stored: Any  # csr: published rows × atoms, the stored (possibly complemented) sets
    offset: FloatArray  # complement flag / row norm
    scale: FloatArray  # ±1 / row norm
    row_norm: FloatArray  # √n of each published cell
    vectors: FloatArray
    values: FloatArray


def validate_thresholds(*, k: int, k_sensitive: int) -> None:
    """Raise ValueError when k is below 5 or k_sensitive below 10 or below k (rule 1)."""
    if k < MINIMUM_K:
        raise ValueError(f"k must be at least {MINIMUM_K}")
    if k_sensitive < max(MINIMUM_K_SENSITIVE, k):
        raise ValueError(f"k_sensitive must be at least {MINIMUM_K_SENSITIVE} and at least k")


def _unique_rows(packed: npt.NDArray[np.uint8]) -> tuple[IntArray, IntArray]:
    """Return the first row of each distinct byte row and the distinct row of every row."""
    if packed.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(packed)
    keys = rows.view(np.dtype((np.void, max(rows.shape[1], 1)))).ravel()
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
        # Diagnostics of the floating-point rank decisions, over every call so
        # far (larger is clearer): the smallest ratio of an eigenvalue kept to
        # one treated as zero, and the smallest 1 − σ² of a direction judged
        # outside the row space.
        self.spectral_margin = math.inf
        self.unit_margin = 1.0

    def _build_atoms(self) -> None:
        """Group respondents with the same membership in every cell into atoms."""
        respondents = self.cells[0].members.shape[0] if self.cells else 0
        membership = np.zeros((len(self.cells), respondents), dtype=np.bool_)
        for position, cell in enumerate(self.cells):
            membership[position] = cell.members
        self.sizes = membership.sum(axis=1).astype(np.int64)
        packed = np.packbits(membership, axis=0).T
        first, self.atom_of = _unique_rows(packed)
        self.multiplicity = np.bincount(self.atom_of, minlength=first.size).astype(np.float64)
        self.packed_atoms = np.ascontiguousarray(packed[first])
        # A cell with more than half of the wave is stored as its complement, so
        # "everyone else" remainders stay sparse.
        self.is_complement = 2 * self.sizes > respondents
        representative = membership[:, first]
        self.stored = sparse.csr_array((representative ^ self.is_complement[:, None]).astype(np.float64))
        sensitive_rows = [position for position, cell in enumerate(self.cells) if cell.is_sensitive]
        self.is_sensitive_atom = representative[sensitive_rows].any(axis=0)

    @property
    def atom_count(self) -> int:
        """Return the number of atoms (distinct membership patterns over all candidate cells)."""
        return int(self.multiplicity.shape[0])

    def find_attack(self, *, published_ids: Collection[str]) -> Attack | None:
        """Return a set of too few respondents that the published cells determine, or None."""
        return next(self.find_attacks(published_ids=published_ids), None)

    def find_attacks(self, *, published_ids: Collection[str]) -> Iterator[Attack]:
        """Yield sets of too few respondents that the published cells determine; none when the audit passes.

        One pass over the publication: disjoint single atoms and pairs of
        atoms it determines, smallest first (at most `_ATTACKS_PER_PASS`), or
        else one set found by the MILP. Sets held to the plain threshold k come
        first; sets held to k_sensitive only when there are none. The sets of
        one pass are judged against this publication: once a cell is hidden
        because of one, the others may no longer hold.
        """
        unknown = set(published_ids) - set(self.index)
        if unknown:
            raise ValueError(f"unknown cell ids: {sorted(unknown)}")
        published = np.zeros(len(self.cells), dtype=np.bool_)
        published[[self.index[cell_id] for cell_id in published_ids]] = True
        if self._published is not None and bool(np.any(published & ~self._published)):
            self._candidates.clear()
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
                    yield self._attack(space, atoms, mode)
                return

    def _row_space(self, published: BoolArray) -> _RowSpace:
        """Return the publication's atoms and an orthonormal description of its row space."""
        rows = np.flatnonzero(published)
        first, atom_of_fine = _unique_rows(self.packed_atoms & np.packbits(published)[None, :])
        multiplicity = np.bincount(atom_of_fine, weights=self.multiplicity, minlength=first.size).astype(np.float64)
        outside = np.bincount(atom_of_fine, weights=~self.is_sensitive_atom, minlength=first.size)
        stored = self.stored[rows][:, first].tocsr()
        complement = self.is_complement[rows].astype(np.float64)
        sign = 1.0 - 2.0 * complement
        weighted = stored.multiply(multiplicity[None, :]).tocsr()
        stored_gram = np.asarray((weighted @ stored.T).toarray(), dtype=np.float64)
        signed_mass = sign * np.asarray(weighted.sum(axis=1), dtype=np.float64).ravel()
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
        values, vectors = np.linalg.eigh(gram)
        keep = values > _EIGENVALUE_TOLERANCE * float(values[-1])
        if bool(keep.any()) and not bool(keep.all()):
            dropped = float(np.max(np.abs(values[~keep])))
            self.spectral_margin = min(self.spectral_margin, float(values[keep].min()) / max(dropped, 1e-300))
        return _RowSpace(
            rows=rows,
            atom_of_fine=atom_of_fine,
            multiplicity=multiplicity,
            is_sensitive=outside == 0,
            stored=stored,
            offset=complement / row_norm,
            scale=sign / row_norm,
            row_norm=row_norm,
            vectors=np.ascontiguousarray(vectors[:, keep]),
            values=values[keep],
        )

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
            candidates = candidates[self._leverage_by_gather(space, candidates) >= self._bound(mode)]
        basis, candidates = self._subspace(space, candidates, mode)
        survivors = np.zeros(atoms, dtype=np.bool_)
        survivors[candidates] = True
        self._candidates[mode] = survivors[space.atom_of_fine]
        if basis.shape[1] == 0:
            return []
        mass = space.multiplicity[candidates]
        found = self._small_supports(basis, mass, mode)
        if found:
            return [candidates[positions] for positions in found]
        selected = self._solve(basis, mass, mode)
        return [] if selected is None else [candidates[selected]]

    @staticmethod
    def _small_supports(basis: FloatArray, mass: FloatArray, mode: _Mode) -> list[IntArray]:
        """Return disjoint single atoms and pairs of atoms whose indicator lies in the subspace, smallest first.

        The vector v = √m ∘ w lies in the span of the orthonormal basis Y
        exactly when ‖Yᵀv‖² = ‖v‖²; for one or two atoms that is read off
        K = Y·Yᵀ, which finds the commonest attacks without a MILP. Pairs are
        looked for only among up to `_PAIRS_UP_TO` candidates (K is dense);
        beyond, the MILP finds them.
        """
        diagonal = np.einsum("ij,ij->i", basis, basis) * mass
        singles = diagonal >= mass * (1.0 - _UNIT_TOLERANCE)
        options = [(float(mass[atom]), int(atom), int(atom)) for atom in np.flatnonzero(singles)]
        if mass.size <= _PAIRS_UP_TO:
            root = np.sqrt(mass)
            captured = diagonal[:, None] + diagonal[None, :] + 2.0 * root[:, None] * (basis @ basis.T) * root[None, :]
            total = mass[:, None] + mass[None, :]
            pairs = (captured >= total * (1.0 - _UNIT_TOLERANCE)) & (total <= mode.threshold - 1)
            first, second = np.nonzero(np.triu(pairs & ~singles[:, None] & ~singles[None, :], k=1))
            options += [(float(total[a, b]), int(a), int(b)) for a, b in zip(first, second, strict=True)]
        used: set[int] = set()
        chosen: list[IntArray] = []
        for _mass, a, b in sorted(options):
            if a in used or b in used:
                continue
            used.update((a, b))
            chosen.append(np.unique(np.array([a, b], dtype=np.int64)))
            if len(chosen) == _ATTACKS_PER_PASS:
                break
        return chosen

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
        index = np.full((atoms.size, width), cells, dtype=np.int64)
        offsets = np.arange(columns.indices.size) - np.repeat(columns.indptr[:-1], lengths)
        index[np.repeat(np.arange(atoms.size), lengths), offsets] = columns.indices
        block = max(1, _GATHER_BLOCK * 64 // (width * width))
        for start in range(0, atoms.size, block):
            part = index[start : start + block]
            leverage[start : start + block] += padded[part[:, :, None], part[:, None, :]].sum(axis=(1, 2))
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

    def _attack(self, space: _RowSpace, atoms: IntArray, mode: _Mode) -> Attack:
        selected = np.zeros(space.multiplicity.size, dtype=np.bool_)
        selected[atoms] = True
        target = selected[space.atom_of_fine].astype(np.int64)
        coefficients = self._sparse_combination(space, atoms)
        combination, is_verified = self._exact_combination(space, coefficients, target)
        members = np.flatnonzero(target[self.atom_of] == 1)
        return Attack(
            members=frozenset(int(respondent) for respondent in members),
            combination={self.cells[row].id: value for row, value in sorted(combination.items())},
            threshold=mode.threshold,
            is_verified=is_verified,
        )

    @staticmethod
    def _sparse_combination(space: _RowSpace, atoms: IntArray) -> FloatArray:
        """Return cell coefficients λ (published rows) with Aᵀλ = the set's indicator, of small weighted L1 norm.

        A linear programme with one equation per publication atom a: t +
        Σ_j ±s_ja·λ_j = w_a, where t = Σ of λ_j over complemented cells keeps
        the remainders sparse; it minimises Σ √n_j·|λ_j|, which prefers small
        cells. The equations are generated lazily: solve for the set's atoms
        and a sample of the others, add every atom the solution misses, and
        repeat, which ends with a solution of the whole system (and an optimal
        one, since every subset of the equations gives a lower bound). Should
        the solver fail, the minimum-norm solution from the eigenbasis stands in.
        """
        cells = space.rows.size
        count = space.multiplicity.size
        target = np.zeros(count)
        target[atoms] = 1.0
        signed = space.stored.T.tocsr().multiply((space.scale * space.row_norm)[None, :]).tocsr()
        system = sparse.hstack([sparse.csr_array(np.ones((count, 1))), signed, -signed]).tocsr()
        complement = (space.offset > 0).astype(np.float64)
        complement_row = sparse.csr_array(np.concatenate([[1.0], -complement, complement])[None, :])
        generator = np.random.default_rng(_SAMPLE_SEED)
        sample = generator.choice(count, size=min(count, _SAMPLE_PER_CELL * cells), replace=False)
        rows = np.union1d(atoms, sample)
        for _iteration in range(_MAX_ROW_GENERATIONS):
            programme = linprog(
                c=np.concatenate([[0.0], space.row_norm, space.row_norm]),
                A_eq=sparse.vstack([system[rows], complement_row]).tocsr(),
                b_eq=np.concatenate([target[rows], [0.0]]),
                bounds=[(None, None)] + [(0.0, None)] * (2 * cells),
                method="highs",
            )
            if programme.status != 0 or programme.x is None:
                break
            solution = np.asarray(programme.x, dtype=np.float64)
            missed = np.flatnonzero(np.abs(system @ solution - target) > _COEFFICIENT_TOLERANCE)
            if missed.size == 0:
                return solution[1 : 1 + cells] - solution[1 + cells :]
            rows = np.union1d(rows, missed)
        columns = space.stored[:, atoms].toarray()
        image = (space.offset[:, None] + space.scale[:, None] * columns) @ space.multiplicity[atoms]
        particular = space.vectors @ ((space.vectors.T @ image) / space.values)
        return np.asarray(particular / space.row_norm, dtype=np.float64)

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
