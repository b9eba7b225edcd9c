/* The customer segments of docs/rules.md §3: an age band by an income
 * band. One definition of the band edges for the C code that puts a sale
 * in its segment (src/ml/dataset.c) and for the SQL that groups stored
 * sales by segment (src/store: the edges are bound as parameters), so the
 * two cannot drift apart. */
#ifndef GROMO_SEGMENTS_H
#define GROMO_SEGMENTS_H

#define SEG_AGE_BANDS 5
#define SEG_INCOME_BANDS 5

/* Band b < SEG_AGE_BANDS - 1 holds the ages above the edge before it (if
 * any) up to and including SEG_AGE_EDGES[b]; the last band the rest. */
#define SEG_AGE_EDGES {25, 35, 45, 60}
/* Band b < SEG_INCOME_BANDS - 1 holds the monthly incomes from the edge
 * before it (if any, included) up to SEG_INCOME_EDGES[b], excluded; the
 * last band the rest. */
#define SEG_INCOME_EDGES {25000.0, 50000.0, 100000.0, 200000.0}

#endif
