"""Disclosure control of published aggregates: PRIVACY.md rules 1–4, the marker of rule 2, rules 7, 8 and 15.

Pure numpy / scipy / pandas. The input is the list of every candidate cell
that any role could see for a wave — every table and every export — each a
set of respondents (`Cell`, a boolean mask over the wave's respondents), and
the partitions among them (`Parent`). `protect` returns which cells to hide;
`apply_suppression` turns hidden rows into the one marker.

What a published cell reveals
-----------------------------
Every figure published for a cell is a sum over its members of some
per-respondent quantity: the count n (of 1), a mean with its n (of the
value), an SD or CI (of the value and its square), a percentage (of an
answer indicator), a distribution (of each option's indicator). So for any
rational coefficients λ, Σ_j λ_j·(figure of cell j) = Σ_i f(i)·(Σ_j λ_j·1[i ∈
cell j]). When Σ_j λ_j·1[cell j] is the indicator of a set S, the published
cells determine the count of S and the sum over S of every such quantity:
S is isolated. Conversely, if the indicator of S is not such a combination,
two waves can be built that agree on every published figure and differ on
S's sum; so auditing counts covers means, SDs, CIs and percentages too.

A disclosure is an isolated S with 1 ≤ |S| ≤ k − 1, or with |S| ≤
k_sensitive − 1 when every member of S belongs to a sensitive cell (rule 1's
higher threshold applied to derived cells too, so "lived experience = yes,
outside survivor-leaders" with 6 people counts). k ≥ 5, k_sensitive ≥
max(10, k); lower values are refused.

The classic traps are all such combinations: the total minus the other
sectors gives a hidden sector; a row total minus the row's visible cells
gives the hidden one; "lived experience = yes" minus "sector =
survivor-leaders" isolates the one police officer with lived experience
although every published cell has n ≥ 10; "Asian (alone or with others)"
minus "Asian alone" gives the few multiracial Asian respondents.

The caller must pass each figure's actual member set. Where a measure's n
counts only the members who answered (item nonresponse), a combination that
isolates k or more members of the groups can isolate fewer among those who
answered: pass the answering members of each group as cells too.

The steps of `protect`
----------------------
1. **Atoms.** Respondents with the same membership in every candidate cell
   are indistinguishable to any combination: every combination is constant
   on them. The audit works on these atoms with their multiplicities m
   (hundreds to tens of thousands of atoms instead of 200 000 rows).
2. **Primary suppression** (rule 1): a cell with n < k (k_sensitive for a
   sensitive cell) is hidden, and so is a cell with n = 0 (a published zero
   reveals an empty set).
3. **Complementary suppression** (rule 3), within every published parent (a
   dimension's groups under the total; each row and each column of a cross
   table under its total; a group and its "everyone else" remainder under
   the overall total): while the parent's hidden children hold fewer than k
   respondents (k_sensitive if one of them is sensitive), or exactly one
   child is hidden, hide the smallest visible child; with none left, hide
   the total. Repeated until no parent changes. This is the fast first pass;
   the audit is what guarantees the result.
4. **Joint audit** (rule 4, `joint_audit`), exact: decide whether any set of
   atoms has an indicator in the row space of the published cell × atom
   matrix A and a mass in the forbidden range. If one exists, hide a
   published cell of a combination that isolates it — the one with the
   smallest n, the overall total only when nothing else is left — run
   complementary suppression again, and audit again, until the audit finds
   nothing. Each round hides a cell that was published, so it ends. One pass
   of the audit may report up to 25 disjoint sets; each after the first is
   judged against the cells still published at that moment (its combination
   may use only those), and one they no longer isolate is left to the next
   pass. Complementary suppression between rounds revisits only the parents
   that a newly hidden cell touches, in the same order, with the same
   decisions as a full sweep.

How the audit decides exactly, and fast
---------------------------------------
A set of atoms S (w ∈ {0,1}^atoms) is isolated iff w = Aᵀλ for some λ, i.e.
w lies in the row space R of A. Each reduction below keeps every isolated
set, so a search that finds nothing proves there is none:

- *Publication atoms.* Atoms that no published cell tells apart are merged
  (their multiplicities added): every vector of R is equal on them. They are
  grouped by a 64-bit hash of their membership bytes, checked byte for byte.
- *Multiplicity.* An atom with m ≥ threshold cannot be in a small set; in the
  sensitive search only atoms made entirely of members of sensitive cells
  take part.
- *Leverage.* Work at the level of respondents, where R's vectors are
  constant on atoms. If S is isolated, 1_S/√|S| is a unit vector of R, so
  every member i of S has leverage h_i = max over unit v ∈ R of v_i² ≥ 1/|S|
  ≥ 1/(threshold − 1). h comes from the eigendecomposition of the
  equilibrated Gram matrix A·M·Aᵀ (cells × cells; M = diag(m)): with U the
  resulting orthonormal basis of R, h_i = ‖U_a‖²/m_a for i in atom a. Atoms
  below the bound are dropped; at most rank × (threshold − 1) respondents
  can stay, whatever the size of the wave.
- *The subspace of candidates.* An isolated set lies in W = {v ∈ R : v = 0
  off the candidates C}. Because U is orthonormal, v = U·ν vanishes off C
  iff ‖U_C·ν‖ = ‖ν‖: W is spanned by U_C's left singular vectors with
  singular value 1. Leverages inside W are smaller again, so dropping
  atoms and recomputing W is repeated to a fixed point.
- *Search by size.* With Y an orthonormal basis of W (√m-weighted), a set
  is in W iff ‖Yᵀv‖² = ‖v‖² for v = √m ∘ w (the test, with tolerance
  1e−8 erring towards "isolated", for every set below). Since masses are
  whole numbers ≥ 1, a set of mass ≤ threshold − 1 has at most L atoms (L =
  how many of the smallest masses fit; L ≤ 4 for k = 5). Single atoms and
  pairs are read off Y·Yᵀ. Triples and quadruples are enumerated by
  meet-in-the-middle: with P the projector off W, a set is in W iff Σ_{a∈S}
  √m_a·P·e_a = 0, so on random directions r each atom gets a number p_a =
  √m_a·(P·r)_a and the sums over a set in W vanish; sets within the
  tolerance have |Σ p_a| ≤ ‖P·r‖·√(1e−8 · (threshold − 1)), so pairs
  matched against atoms (triples) and against pairs (quadruples) on a grid
  of that width miss none of them, and each match is then tested exactly as
  above. Atoms and pairs already found are left out (a larger set holding
  one is found through it). When every size up to L was searched, an empty
  answer proves that no set exists — no MILP. This is the cheap exact
  check of the common cases: a nested pair of cells whose difference is
  1..k−1 respondents, a total minus its visible children, a group minus its
  remainder's complement, all show up as singles or pairs.
- *MILP, otherwise* (L > 4, e.g. the k_sensitive search or a raised k, or
  too many candidates or matches): `scipy.optimize.milp` (HiGHS), w ∈
  {0,1} on C with √m ∘ w ∈ span(Y) — as Qᵀ(√m ∘ w) = 0 for an orthonormal
  complement Q brought to reduced row echelon form (rational coefficients,
  mostly 0 and ±1), or √m ∘ w = Y·ν with free ν for many candidates — and 1
  ≤ m·w ≤ threshold − 1. "Infeasible" is accepted only when a second solve
  without presolve agrees.
- *Work carried over.* A smaller publication determines a subset of what a
  larger one did: respondents ruled out in one pass stay out in the next;
  the sets found by a complete search are kept, and the next pass tests only
  their disjoint unions of mass ≤ threshold − 1 (the sets it isolates are
  among them) instead of searching again; and the eigenpairs come from the
  last ones (with C = V·Λ^½, the new Gram matrix is C'·C'ᵀ for the rows of
  the cells still published, so only the rank × rank matrix Λ − C_dᵀ·C_d is
  diagonalised, C_d the rows withdrawn). All of this starts afresh if the
  publication ever grows. The Gram matrix of all candidate cells is formed
  once; a publication's is a block of it.
- *Sparse rows.* A cell holding more than half of the wave is stored as its
  complement (A's row = 1 − the stored set), so remainder cells stay sparse.

For a set found, a linear programme gives a sparse combination (minimal
Σ √n_j·|λ_j|, so small cells are preferred). Its equations, one per
publication atom, are generated lazily: it starts from the atoms of the set
and a set of atoms whose columns of A are independent (kept from earlier
programmes: once they span A's column space their equations imply all the
others, and they still span it for any smaller publication), adds any atom
the solution misses and solves again, so the optimum is that of the whole
system. The combination is rounded to fractions and checked in exact
integer arithmetic on every atom (`Attack.is_verified`). A set the check
cannot confirm (a floating-point artefact) is acted on all the same: erring
that way only hides more.

Limits
------
- Published figures are treated as exact: the audit assumes an attacker
  knows every count exactly and gives no credit for rounding (rounded
  percentages are not used as slack).
- It excludes exact determination by linear combinations. It does not
  bound what integrality and non-negativity (counts ≥ 0) imply: a hidden
  count can still be narrowed to a range.
- An empty combination — cells showing that nobody has some combination of
  attributes — is caught only where a cell is itself empty (primary
  suppression) or inside a declared parent (rule 3), not across tables.
- Rank decisions are floating-point with tolerances set to keep doubtful
  directions (which can only add candidate sets, each checked exactly);
  `ProtectionResult.spectral_margin` and `unit_margin` show how clear-cut
  they were (in the benchmarks: eigenvalue gaps above 10⁸).
- Outside knowledge is not modelled: k − 1 colluding respondents can always
  learn the k-th (the residual risk of rule 9), and values seen individually
  (microdata) can be matched by other means than sums.
- The sensitive-set rule looks at who the members are, not at what an
  attacker knows about them, so it can hide more than strictly needed.
- One wave at a time: differences between waves (trends) concern different
  sets of respondents and are outside this audit; rule 7 shows a trend only
  where the cell passes in both waves.

Rule 15 (microdata): each combination of quasi-identifiers kept in an export
is a cell (`masks_for_combinations`); adding those cells to the same audit
keeps a value suppressed in the export from being recovered from the
dashboard's cells, and every class must itself pass primary suppression.

Speed (`OPENBLAS_NUM_THREADS=1 python -m bench.disclosure_engine`; two-core
VM shared with other work, single-threaded BLAS). A wave of 13 sectors and
6 dimensions of 4–7 options, two of them multi-select, with every group,
sector × group and "everyone else" remainder (1 231 cells): `protect` takes
0.3–0.4 s for 200 respondents (20 audit rounds), 2–2.5 s for 2 000 (85
rounds), 1.5 s for 20 000 (13 rounds) and 3.2 s for 200 000 (48 000 atoms,
17 rounds), down from 4.7, 11.6, 6.7 and 11.4 s; between 0.3 and 3.3 s at
every size for skewed or even answer distributions (up to 73 000 atoms),
down from up to 18 s. On the analytics job's own cells (`--job`, 1 343
cells): 0.16 s at 200 responses, 3.2 s at 200 000 (168 000 atoms). No
MILP runs in these waves at k = 5. The time goes to the combination
programmes (one per round, 10–40 ms each) and, in a large wave, to building
the atoms and the Gram matrix of all cells and the first pass's leverages.
bench/README.md has the tables.
"""

from analytics.engine.disclosure.cells import Cell, Parent, cells_from_masks, masks_for_combinations
from analytics.engine.disclosure.joint_audit import (
    MINIMUM_K,
    MINIMUM_K_SENSITIVE,
    Attack,
    AuditInconclusiveError,
    Auditor,
    audit,
)
from analytics.engine.disclosure.presentation import (
    HIDDEN_TEXT,
    SUPPRESSED_COLUMN,
    apply_suppression,
    format_mean,
    format_percent,
    sensitive_size_label,
)
from analytics.engine.disclosure.suppression import (
    AuditNotPassedError,
    AuditRound,
    ProtectionResult,
    Reason,
    complementary_by_size,
    complementary_suppression,
    primary_suppression,
    protect,
)
from analytics.engine.statistics import STATISTIC_COLUMNS

__all__ = [
    "HIDDEN_TEXT",
    "MINIMUM_K",
    "MINIMUM_K_SENSITIVE",
    "STATISTIC_COLUMNS",
    "SUPPRESSED_COLUMN",
    "Attack",
    "AuditInconclusiveError",
    "AuditNotPassedError",
    "AuditRound",
    "Auditor",
    "Cell",
    "Parent",
    "ProtectionResult",
    "Reason",
    "apply_suppression",
    "audit",
    "cells_from_masks",
    "complementary_by_size",
    "complementary_suppression",
    "format_mean",
    "format_percent",
    "masks_for_combinations",
    "primary_suppression",
    "protect",
    "sensitive_size_label",
]
