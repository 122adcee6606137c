"""The KPI mart on a hand-made fixture (issue 4's acceptance point): a warehouse built from
scratch with the raw and meta tables ingestion creates, ~30 cases, 10 help sessions, 10
ratings and 10 hotline work orders inserted by hand (tests/integration/kpi_fixture_rows.py),
one `dbt build --select +kpi_monthly`, and every KPI K1–K22 checked against numerators,
denominators and rates worked out by hand from the indicator handbook
(contract/spec/kpis.md) and defects.md (D6, D7, D8), in the tables below.

Regions: Z = 360702 章贡区, S = 360700 市本级 (a real region beside the city row ALL),
N = 360703 南康区; `unknown` for ratings of cases that are not among the cases.

Working days used below (contract/calendar/workdays.csv), 2025:
  Mar 20 Thu … Apr 3 Thu workdays except weekends; Apr 4 (Fri) – Apr 6 清明 holiday;
  Apr 7–11, 14–18, 21–25 Mon–Fri workdays; Apr 26 Sat rest; Apr 27 SUNDAY = 调休 make-up
  WORKING day; Apr 28–30 workdays; May 1–5 劳动节 holiday; May 6, 7 workdays.
  wd(a, b) = number of working days d with date(a) < d <= date(b).

Service items (sxml, state = last version by GXSJ):
  SX_GP5  BLBM BM_GA  CNSX 5  SFGPSX 1  SFXYZZ 1
  SX_JB0  BLBM BM_MZ  CNSX 0 (即办件)  SFGPSX 0  SFXYZZ 0
  SX_GP3  BLBM BM_RS  CNSX 3 (v2; v1 had 10)  SFGPSX 1  SFXYZZ 0
  SX_DEL  deleted (v2 SFSC 1)  -> cases: department unknown, in K1, K2 only
  SX_NONE in no version of sxml -> unknown item, in K1, K2 only

Cases (bj_jbxx state). "on" = SQFS in {1, 2}; SQFS 3 window, 4 kiosk (not online).
  id  reg item  SQFS SFYT SQSJ        SLSJ         BJSJ         BJZT BZCS 一件事
  C01 Z  GP5   1   1   04-01 09:00 04-01 10:00  04-09 16:00  3    0
  C02 Z  GP5   2   0   04-01 09:30 04-01 11:00  04-10 16:00  3    0
  C03 Z  GP5   3   0   04-02 09:00 04-02 10:00  04-08 15:00  3    1
  C04 Z  JB0   3   0   04-03 09:00 04-03 09:05  04-03 15:00  3    0
  C05 Z  JB0   1   0   04-08 16:00 04-08 16:30  04-09 09:00  3    0
  C06 Z  GP3   1   1   04-25 09:00 04-25 10:00  04-29 17:00  3    0
  C07 Z  GP3   2   1   04-25 09:10 04-25 10:10  04-30 17:00  3    0
  C08 Z  GP3   3   0   04-28 09:00 04-29 09:00  05-07 10:00  3    0
  C09 Z  GP5   4   1   04-10 09:00 null         04-10 11:00  4    0     (refused)
  C10 Z  GP5   1   0   04-11 09:00 null         null         0    0     (not yet accepted)
  C11 Z  GP5   1   1   04-14 09:00 04-14 10:00  null         2    1
  C12 Z  JB0   3   0   04-15 10:00 04-15 09:00  04-15 11:00  3    0     (D6 SLSJ < SQSJ)
  C13 Z  JB0   1   0   04-16 09:00 04-16 10:00  04-16 09:30  3    0     (D6 BJSJ < SLSJ)
  C14 Z  DEL   1   1   04-17 09:00 04-17 10:00  04-18 10:00  3    0
  C15 Z  NONE  2   0   04-17 09:00 04-17 10:00  04-17 16:00  3    2
  C16 N  GP5   3   0   04-18 …     soft-deleted (SFSC 1)         -> in no KPI  YJS-3
  C17 Z  GP5   1   1   04-21 …     later version quarantined (D7)-> in no KPI
  C18 Z  GP3   1   0   03-20 09:00 03-20 10:00  04-02 10:00  3    0
  C19 Z  GP5   3   0   04-22 09:00 04-22 10:00  04-23 10:00  3    0     (v2, same GXSJ, later load)
  C20 Z  GP5   2   1   04-23 09:00 04-23 10:00  04-24 10:00  5    0     (withdrawn)
  C21 S  GP5   1   1   04-07 09:00 04-07 10:00  04-11 10:00  3    0
  C22 S  JB0   3   0   04-08 09:00 04-08 09:10  04-08 10:00  3    0
  C23 S  JB0   3   0   04-09 09:00 null         04-09 10:00  4    0     (refused)
  C24 S  JB0   3   0   04-10 09:00 04-10 09:30  null         1    0
  C25 N  JB0   3   0   04-14 09:00 04-14 09:10  04-14 10:00  3    0
  C26 Z  GP5   1   1   04-21 09:00 04-21 10:00  null         1    0     YJS-1
  C27 Z  GP3   2   0   04-21 09:05 04-21 10:00  null         1    0     YJS-1
  C28 S  JB0   3   0   03-31 15:00 03-31 15:10  03-31 16:00  3    0     YJS-2
  C29 Z  GP3   1   0   04-01 10:00 null         null         0    0     YJS-2
  C30 Z  GP5   1   0   04-22 14:00 null         null         0    0     YJS-3
  C31 S  JB0   1   0   04-22 14:00 null         null         0    0     YJS-3
Certificate uses (dzzz_yyjl): DYFS 1 for C01, C03 (twice), C11, C14, C21 and for an unknown
case (D8); DYFS 2 (亮证) only for C02; DYFS 3 (核验) only for C09.

K1 网办率 (month SQSJ; den = cases; num = SQFS in {1,2})
  2025-03 Z: C18 on                                   -> 1/1
  2025-03 S: C28 window                               -> 0/1
  2025-03 ALL                                         -> 1/2
  2025-04 Z: 21 cases C01–C15, C19, C20, C26, C27, C29, C30 (C16 deleted, C17 quarantined:
             out); offline C03, C04, C08, C12, C19 (3) and C09 (4, kiosk is not online)
             -> num 21 − 6 = 15                       -> 15/21
  2025-04 S: C21, C22, C23, C24, C31; on C21, C31     -> 2/5
  2025-04 N: C25 window (C16 deleted is not counted)  -> 0/1 (rate 0, not NULL)
  2025-04 ALL                                         -> 17/27

K2 首办成功率 (month SQSJ; den = SLSJ not null or BJZT 4; num = SLSJ not null, BJZT ≠ 4,
BZCS = 0)
  2025-03 Z: C18                                      -> 1/1
  2025-03 S: C28                                      -> 1/1
  2025-03 ALL                                         -> 2/2
  2025-04 Z: den = 21 cases minus C10, C29, C30 (SLSJ null, BJZT 0) = 18 (C09 refused is in,
             C12 D6 is in: the flag only matters for K4; C14/C15 unknown items are in;
             C20 withdrawn after acceptance is in); not num: C03 (BZCS 1), C11 (BZCS 1),
             C15 (BZCS 2), C09 (BJZT 4)               -> 14/18
  2025-04 S: den C21, C22, C23 (refused), C24 (accepted, open); C31 not; num C21, C22, C24
                                                      -> 3/4
  2025-04 N: C25                                      -> 1/1
  2025-04 ALL                                         -> 18/23

K3 预填比例 (month SQSJ; known item; den = on and SFGPSX 1; num = SFYT 1)
  2025-03 Z: C18 GP3 on SFYT 0                        -> 0/1
  2025-03 S: C28 JB0 (not high-frequency)             -> 0/0 -> rate NULL
  2025-03 ALL                                         -> 0/1
  2025-04 Z: den C01, C02, C10, C11, C20, C26, C30 (GP5) + C06, C07, C27, C29 (GP3) = 11
             (C09 kiosk, C03/C08/C19 offline, C14 deleted item, C15 unknown item: out);
             num C01, C06, C07, C11, C20, C26        -> 6/11
  2025-04 S: C21                                      -> 1/1
  2025-04 N: C25 JB0 only                             -> 0/0 -> rate NULL (row kept)
  2025-04 ALL                                         -> 7/12

K4 按期办结率 (month BJSJ; known item, BJZT 3, SLSJ & BJSJ not null, SQSJ ≤ SLSJ ≤ BJSJ;
num = wd(SLSJ, BJSJ) ≤ CNSX, for CNSX 0 date(BJSJ) = date(SLSJ))
  2025-03 S: C28 JB0 same day                         -> 1/1
  2025-03 ALL                                         -> 1/1
  2025-04 Z: C01 GP5 wd(04-01, 04-09) = 04-02,03,07,08,09 = 5 ≤ 5    on time
             C02 GP5 wd(04-01, 04-10) = 6 > 5                        late
             C03 GP5 wd(04-02, 04-08) = 04-03,07,08 = 3              on time
             C04 JB0 same day                                        on time
             C05 JB0 04-08 -> 04-09, 即办件 done the next day         late
             C06 GP3 wd(04-25, 04-29) = 04-27(Sun, 调休),28,29 = 3    on time
             C07 GP3 wd(04-25, 04-30) = 04-27(Sun, 调休),28,29,30 = 4  late (3 without
                     the make-up Sunday)
             C18 GP3 wd(03-20, 04-02) = 9 > 3 (attributed to April, its BJSJ)  late
             C19 GP5 wd(04-22, 04-23) = 1 (state of the later load)  on time
             out: C12 (SLSJ < SQSJ), C13 (BJSJ < SLSJ), C14/C15 (no item), C09 (BJZT 4),
             C20 (BJZT 5), C08 (May)                  -> 5/9
  2025-04 S: C21 GP5 wd(04-07, 04-11) = 4 on time; C22 JB0 same day on time; C23 refused out
                                                      -> 2/2
  2025-04 N: C25 JB0 same day                         -> 1/1
  2025-04 ALL                                         -> 8/12
  2025-05 Z: C08 GP3 wd(04-29, 05-07) = 04-30, 05-06, 05-07 = 3 (May 1–5 holiday) on time
                                                      -> 1/1
  2025-05 ALL                                         -> 1/1

K5 免证办理率 (month SQSJ; known item; den = SFXYZZ 1 (GP5); num = a DYFS 1 use)
  2025-03 Z, S: C18 GP3, C28 JB0 (no certificate needed) -> 0/0 each, ALL 0/0 -> rate NULL
  2025-04 Z: den C01, C02, C03, C09, C10, C11, C19, C20, C26, C30 = 10 (C14 deleted item
             out even with its use); num C01, C03 (two uses, once), C11 (C02 亮证 only,
             C09 核验 only: not num)                  -> 3/10
  2025-04 S: C21 (use)                                -> 1/1
  2025-04 N: C25 JB0                                  -> 0/0 -> rate NULL
  2025-04 ALL (the D8 use of an unknown case changes nothing) -> 4/11

Help sessions (bb_jl state), all April:
  H01 Z ch1 +60 s SFJJ 1 | H02 Z ch1 +61 s SFJJ 0 | H03 N ch1 never answered, SFJJ null
  H04 Z ch1 response 1 min BEFORE the request (D6), SFJJ 1 | H05 Z ch2 (offline) SFJJ 1
  H06 S ch1 +30 s SFJJ 1 | H07 S ch1 +10 s SFJJ 0 | H08 Z ch1 +45 s SFJJ 1
  H09 S ch2 (offline) SFJJ 0 | H10 Z ch1: v1 unanswered/open, v2 (later GXSJ) +20 s SFJJ 1
K6 人工帮办解决率 (den = BBQD 1 and SFJJ not null; num SFJJ 1)
  Z: H01 y, H02 n, H04 y (D6 matters only for K7), H08 y, H10 y -> 4/5
  S: H06 y, H07 n                                     -> 1/2
  N: H03 SFJJ null                                    -> 0/0 -> rate NULL
  ALL                                                 -> 5/7
K7 帮办1分钟首响率 (den = BBQD 1 except SCXYSJ < QQSJ; num SCXYSJ − QQSJ ≤ 60 s)
  Z: H01 y (exactly 60 s), H02 n (61 s), H08 y, H10 y; H04 out (D6) -> 3/4
  S: H06 y, H07 y                                     -> 2/2
  N: H03 never answered                               -> 0/1
  ALL                                                 -> 5/7

Ratings: the April file was delivered twice (XLSX first, CSV arriving later); only the CSV is
in force, so the XLSX's PJ01 (level 1) and PJ11 (level 1 on C21) count nowhere.
  PJ01 C01 Z 5 | PJ02 C21 S 4 | PJ03 C16 (deleted -> unknown) 3
  PJ04 C04 Z 2, ZGZT 1, PJSJ 04-07 Mon, ZGWCSJ 04-27 = working day 15 (04-08…11 = 4,
       04-14…18 = 9, 04-21…25 = 14, Sun 04-27 = 15)
  PJ05 C05 Z 1, ZGZT 1, PJSJ 04-07, ZGWCSJ 04-28 = working day 16
  PJ06 C02 Z 2, ZGZT 2 (不属实) | PJ07 C03 Z 1, ZGZT 0 | PJ08 C06 Z 2, ZGZT null
  PJ09 C19 Z 1, ZGZT 1, ZGWCSJ a day BEFORE PJSJ (D6) | PJ10 unknown case (D8) 5
K8 好评率 (month PJSJ; den = ratings; num PJDJ in {3,4,5})
  Z: PJ01, PJ04, PJ05, PJ06, PJ07, PJ08, PJ09; num PJ01 -> 1/7
  S: PJ02                                             -> 1/1
  unknown: PJ03, PJ10                                 -> 2/2
  ALL                                                 -> 4/10
K9 差评整改率 (den = PJDJ in {1,2}, ZGZT null or ≠ 2, not ZGWCSJ < PJSJ; num ZGZT 1, wd ≤ 15)
  Z: den PJ04, PJ05, PJ07, PJ08 (PJ06 不属实 out, PJ09 D6 out); num PJ04 (wd 15; PJ05
     wd 16 is late)                                   -> 1/4
  S: PJ02 is good                                     -> 0/0 -> rate NULL (row kept)
  unknown: PJ03, PJ10 good                            -> 0/0 -> rate NULL
  ALL                                                 -> 1/4

Work orders (state), ldsj in April except W10:
  W01 Z zjbj 1, no cbdw, bjsj set, sfjj 1, myd 1
  W02 Z U1 clqx 04-10 18:00:00, bjsj 04-10 18:00:00 (at the deadline), sfjj 1, myd 2
  W03 Z U5 clqx 04-10 18:00:00, bjsj 04-10 18:00:01 (ONE SECOND late), sfjj 0, myd 3
  W04 Z U2 open (bjsj null), sfjj null, myd null
  W05 Z U2 no clqx, bjsj set, sfjj 1, myd null
  W06 S U3 bjsj before clqx, sfjj 1, myd null
  W07 S zjbj 1, no cbdw, bjsj an hour after its clqx (still on time: answered directly),
        sfjj 1, myd 1
  W08 Z U1 bjsj 4 days after clqx, sfjj 1, myd 3
  W09 Z U1 v1 open; v2 (later updated_at) bjsj before clqx, sfjj 1, myd 1
  W10 N U4 ldsj 2025-03-31 23:59:59 (March), bjsj before clqx, sfjj 0, myd 2
K10 按时办结率 (den bjsj not null; num zjbj 1 or bjsj ≤ clqx)
  2025-03 N: W10 -> 1/1; ALL 1/1
  2025-04 Z: den W01, W02, W03, W05, W08, W09; num W01, W02, W09 -> 3/6
  2025-04 S: W06, W07                                 -> 2/2
  2025-04 ALL                                         -> 5/8
K11 解决率 (den sfjj not null; num sfjj 1)
  2025-03 N: W10 -> 0/1; ALL 0/1
  2025-04 Z: W01 y, W02 y, W03 n, W05 y, W08 y, W09 y -> 5/6
  2025-04 S: W06, W07                                 -> 2/2
  2025-04 ALL                                         -> 7/8
K12 满意率 (den myd not null; num myd in {1,2})
  2025-03 N: W10 -> 1/1; ALL 1/1
  2025-04 Z: W01 y, W02 y, W03 n, W08 n, W09 y        -> 3/5
  2025-04 S: W07                                      -> 1/1
  2025-04 ALL                                         -> 4/6

K13 "一件事"网办率 (month of the instance's earliest SQSJ; region of its earliest case, ties
by the smaller SBLSH; num = all of its cases on)
  YJS-1 C26 (Z, 04-21 09:00, on) + C27 (on)            -> 2025-04 Z, all online
  YJS-2 C28 (S, 03-31, window) + C29 (Z, 04-01, on)    -> 2025-03 S, not all online
  YJS-3 C30 (Z) and C31 (S) both 04-22 14:00, both on: tie -> C30 (smaller SBLSH) -> Z;
        C16 (N, 04-18, window) is deleted, so not among the cases -> 2025-04 Z, all online
  2025-03 S 0/1, ALL 0/1; 2025-04 Z 2/2, ALL 2/2

v2 (kpis.md v2, K14–K22). Added rows, none of which moves a K1–K13 value except PJ12 in K8:
  PJ12 C28 (S, finished 03-31) rated 04-01, level 5 -> K8 2025-04 S 2/2, ALL 5/11.
  SLMS: C01 2 (告知承诺), C10 2 (never accepted), C22 3 (容缺); YDBL: C02 1, C21 2.
  H11 N offline (BBQD 2), open. Work orders R1–R8 (GD011–GD018, unit U9, open, no callback).
  Items no case uses: SX_CHG (BM_GA) v1 01-02 SFQCWB 0, CNSX 10, PDCS 2 -> v2 04-15 12:00
  SFQCWB 1, CNSX 0, PDCS 0; SX_FD0 (BM_MZ) FDSX 0, CNSX 0; SX_QTN (BM_SC) FDSX 10, CNSX 5,
  PDCS 1, a version quarantined at 04-20; SX_NEW (BM_RS) published 05-10, FDSX 15, CNSX 5,
  SFQCWB 0, PDCS 1. Defaults: FDSX 20, SFQCWB 1, PDCS 0.

K14 评价率 (month BJSJ; den BJZT 3, BJSJ not null; num ≥ 1 rating in force, any month)
  2025-03 S: C28 (PJ12 in April)                     -> 1/1; ALL 1/1
  2025-04 Z: C01 C02 C03 C04 C05 C06 C07 C12 C13 C14 C15 C18 C19 (D6 flags do not matter:
             K14 needs no interval); rated C01 C02 C03 C04 C05 C06 C19 -> 7/13
  2025-04 S: C21 rated, C22 not                       -> 1/2
  2025-04 N: C25                                      -> 0/1
  2025-04 ALL                                         -> 8/16
  2025-05 Z: C08                                      -> 0/1; ALL 0/1
K15–K18 (items in force at T = the month's last second; as of 2025-05-31; months from
March, the earliest case's month; region ALL only, item ALL)
  March: BM_GA GP5, CHG(v1); BM_MZ JB0, FD0; BM_RS GP3 (CNSX 3); BM_SC DEL, QTN
  April: DEL deleted 04-30 08:00 and QTN quarantined 04-20: out; CHG is v2
  May:   as April, plus NEW (BM_RS)
  K15 全程网办 (SFQCWB 1): Mar 1/2+2/2+1/1+2/2 = 6/7; Apr 2/2+2/2+1/1 = 5/5;
      May 2/2+2/2+1/2 = 5/6
  K16 即办件 (CNSX 0): Mar 0/2+2/2+0/1+0/2 = 2/7; Apr 1/2+2/2+0/1 = 3/5; May 3/6
  K17 Σ(FDSX − CNSX)/Σ FDSX, FDSX > 0 (FD0 out): Mar GA (15+10)/40, MZ 20/20, RS 17/20,
      SC (15+5)/30 = 82/110; Apr GA 35/40, MZ 20/20, RS 17/20 = 72/80; May RS (17+10)/35
      -> 82/95
  K18 零跑动 (PDCS 0): Mar 1/2+2/2+1/1+1/2 = 5/7; Apr 5/5; May 2/2+2/2+1/2 = 5/6
K19 通办占比 (month SQSJ; den cases; num YDBL 1 or 2): 2025-03 Z 0/1, S 0/1, ALL 0/2;
  2025-04 Z C02 1/21, S C21 1/5, N 0/1, ALL 2/27
K20 告知承诺/容缺占比 (month SQSJ; den SLSJ not null; num SLMS 2 or 3): 2025-03 Z 0/1,
  S 0/1, ALL 0/2; 2025-04 Z C01 of 17 (C10 has SLMS 2 but no SLSJ) 1/17, S C22 of C21 C22
  C24 1/3, N 0/1, ALL 2/21
K21 线下帮办解决率 (BBQD 2, SFJJ not null): Z H05 1/1, S H09 0/1, N H11 open 0/0, ALL 1/2
K22 重复诉求率 (month ldsj; den ldhm not null; num an order with the same ldhm and sqfl in
  [ldsj − 30 d, ldsj)): R1 03-02 10:00 PA, R2 04-01 10:00 PA (exactly 30 d: repeat);
  R3 03-03 10:00 PB, R4 04-02 10:00:01 PB (30 d 1 s: not); R5, R6 04-03 10:00 PC (same
  second: neither); R7 04-04 PC 医保 (other topic: not); R8 04-05 PC (repeat).
  W01–W10 have their own phones: no repeats.
  2025-03 N: W10, R1, R3 -> 0/3; ALL 0/3
  2025-04 Z: W01–W05, W08, W09, R2, R4–R8 -> 2/13; S: W06, W07 -> 0/2; ALL 2/15
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.integration.dbt_city import dbt
from tests.integration.kpi_fixture_rows import build_fixture_warehouse

pytestmark = pytest.mark.integration

MAR, APR, MAY = date(2025, 3, 1), date(2025, 4, 1), date(2025, 5, 1)
Z, S, N, UNKNOWN, ALL = "360702", "360700", "360703", "unknown", "ALL"

# (kpi, month, region) -> (numerator, denominator, rate); the hand-worked values above.
# Every (kpi, month, region) the mart has is listed: a missing one means no rows.
EXPECTED = {
    ("K1", MAR, Z): (1, 1, 1.0),
    ("K1", MAR, S): (0, 1, 0.0),
    ("K1", MAR, ALL): (1, 2, 1 / 2),
    ("K1", APR, Z): (15, 21, 15 / 21),
    ("K1", APR, S): (2, 5, 2 / 5),
    ("K1", APR, N): (0, 1, 0.0),
    ("K1", APR, ALL): (17, 27, 17 / 27),
    ("K2", MAR, Z): (1, 1, 1.0),
    ("K2", MAR, S): (1, 1, 1.0),
    ("K2", MAR, ALL): (2, 2, 1.0),
    ("K2", APR, Z): (14, 18, 14 / 18),
    ("K2", APR, S): (3, 4, 3 / 4),
    ("K2", APR, N): (1, 1, 1.0),
    ("K2", APR, ALL): (18, 23, 18 / 23),
    ("K3", MAR, Z): (0, 1, 0.0),
    ("K3", MAR, S): (0, 0, None),
    ("K3", MAR, ALL): (0, 1, 0.0),
    ("K3", APR, Z): (6, 11, 6 / 11),
    ("K3", APR, S): (1, 1, 1.0),
    ("K3", APR, N): (0, 0, None),
    ("K3", APR, ALL): (7, 12, 7 / 12),
    ("K4", MAR, S): (1, 1, 1.0),
    ("K4", MAR, ALL): (1, 1, 1.0),
    ("K4", APR, Z): (5, 9, 5 / 9),
    ("K4", APR, S): (2, 2, 1.0),
    ("K4", APR, N): (1, 1, 1.0),
    ("K4", APR, ALL): (8, 12, 8 / 12),
    ("K4", MAY, Z): (1, 1, 1.0),
    ("K4", MAY, ALL): (1, 1, 1.0),
    ("K5", MAR, Z): (0, 0, None),
    ("K5", MAR, S): (0, 0, None),
    ("K5", MAR, ALL): (0, 0, None),
    ("K5", APR, Z): (3, 10, 3 / 10),
    ("K5", APR, S): (1, 1, 1.0),
    ("K5", APR, N): (0, 0, None),
    ("K5", APR, ALL): (4, 11, 4 / 11),
    ("K6", APR, Z): (4, 5, 4 / 5),
    ("K6", APR, S): (1, 2, 1 / 2),
    ("K6", APR, N): (0, 0, None),
    ("K6", APR, ALL): (5, 7, 5 / 7),
    ("K7", APR, Z): (3, 4, 3 / 4),
    ("K7", APR, S): (2, 2, 1.0),
    ("K7", APR, N): (0, 1, 0.0),
    ("K7", APR, ALL): (5, 7, 5 / 7),
    ("K8", APR, Z): (1, 7, 1 / 7),
    ("K8", APR, S): (2, 2, 1.0),
    ("K8", APR, UNKNOWN): (2, 2, 1.0),
    ("K8", APR, ALL): (5, 11, 5 / 11),
    ("K9", APR, Z): (1, 4, 1 / 4),
    ("K9", APR, S): (0, 0, None),
    ("K9", APR, UNKNOWN): (0, 0, None),
    ("K9", APR, ALL): (1, 4, 1 / 4),
    ("K10", MAR, N): (1, 1, 1.0),
    ("K10", MAR, ALL): (1, 1, 1.0),
    ("K10", APR, Z): (3, 6, 3 / 6),
    ("K10", APR, S): (2, 2, 1.0),
    ("K10", APR, ALL): (5, 8, 5 / 8),
    ("K11", MAR, N): (0, 1, 0.0),
    ("K11", MAR, ALL): (0, 1, 0.0),
    ("K11", APR, Z): (5, 6, 5 / 6),
    ("K11", APR, S): (2, 2, 1.0),
    ("K11", APR, ALL): (7, 8, 7 / 8),
    ("K12", MAR, N): (1, 1, 1.0),
    ("K12", MAR, ALL): (1, 1, 1.0),
    ("K12", APR, Z): (3, 5, 3 / 5),
    ("K12", APR, S): (1, 1, 1.0),
    ("K12", APR, ALL): (4, 6, 4 / 6),
    ("K13", MAR, S): (0, 1, 0.0),
    ("K13", MAR, ALL): (0, 1, 0.0),
    ("K13", APR, Z): (2, 2, 1.0),
    ("K13", APR, ALL): (2, 2, 1.0),
    # v2
    ("K14", MAR, S): (1, 1, 1.0),
    ("K14", MAR, ALL): (1, 1, 1.0),
    ("K14", APR, Z): (7, 13, 7 / 13),
    ("K14", APR, S): (1, 2, 1 / 2),
    ("K14", APR, N): (0, 1, 0.0),
    ("K14", APR, ALL): (8, 16, 8 / 16),
    ("K14", MAY, Z): (0, 1, 0.0),
    ("K14", MAY, ALL): (0, 1, 0.0),
    ("K15", MAR, ALL): (6, 7, 6 / 7),
    ("K15", APR, ALL): (5, 5, 1.0),
    ("K15", MAY, ALL): (5, 6, 5 / 6),
    ("K16", MAR, ALL): (2, 7, 2 / 7),
    ("K16", APR, ALL): (3, 5, 3 / 5),
    ("K16", MAY, ALL): (3, 6, 3 / 6),
    ("K17", MAR, ALL): (82, 110, 82 / 110),
    ("K17", APR, ALL): (72, 80, 72 / 80),
    ("K17", MAY, ALL): (82, 95, 82 / 95),
    ("K18", MAR, ALL): (5, 7, 5 / 7),
    ("K18", APR, ALL): (5, 5, 1.0),
    ("K18", MAY, ALL): (5, 6, 5 / 6),
    ("K19", MAR, Z): (0, 1, 0.0),
    ("K19", MAR, S): (0, 1, 0.0),
    ("K19", MAR, ALL): (0, 2, 0.0),
    ("K19", APR, Z): (1, 21, 1 / 21),
    ("K19", APR, S): (1, 5, 1 / 5),
    ("K19", APR, N): (0, 1, 0.0),
    ("K19", APR, ALL): (2, 27, 2 / 27),
    ("K20", MAR, Z): (0, 1, 0.0),
    ("K20", MAR, S): (0, 1, 0.0),
    ("K20", MAR, ALL): (0, 2, 0.0),
    ("K20", APR, Z): (1, 17, 1 / 17),
    ("K20", APR, S): (1, 3, 1 / 3),
    ("K20", APR, N): (0, 1, 0.0),
    ("K20", APR, ALL): (2, 21, 2 / 21),
    ("K21", APR, Z): (1, 1, 1.0),
    ("K21", APR, S): (0, 1, 0.0),
    ("K21", APR, N): (0, 0, None),
    ("K21", APR, ALL): (1, 2, 1 / 2),
    ("K22", MAR, N): (0, 3, 0.0),
    ("K22", MAR, ALL): (0, 3, 0.0),
    ("K22", APR, Z): (2, 13, 2 / 13),
    ("K22", APR, S): (0, 2, 0.0),
    ("K22", APR, ALL): (2, 15, 2 / 15),
}
ITEM_KPIS = ("K15", "K16", "K17", "K18")


@pytest.fixture(scope="module")
def mart(tmp_path_factory) -> list[dict]:
    warehouse = tmp_path_factory.mktemp("kpi_fixture") / "warehouse.duckdb"
    build_fixture_warehouse(warehouse)
    done = dbt(
        warehouse, "build", "--select", "+kpi_monthly", "--vars", "{as_of_date: '2025-05-31'}"
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return read_mart(warehouse)


def read_mart(warehouse: Path) -> list[dict]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = conn.execute("SELECT * FROM main_marts.kpi_monthly")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        conn.close()


def rolled_up(mart: list[dict]) -> dict[tuple, tuple]:
    """(kpi, month, region) -> (sum numerator, sum denominator, their ratio or None)."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in mart:
        key = (r["kpi_id"], r["month"], r["region_code"])
        sums[key][0] += r["numerator"]
        sums[key][1] += r["denominator"]
    return {k: (n, d, n / d if d else None) for k, (n, d) in sums.items()}


def grain(mart, kpi, month, region, department, item=None, channel=None) -> dict:
    wanted = (kpi, month, region, department, item, channel)
    columns = ("kpi_id", "month", "region_code", "department", "item_code", "channel")
    found = [r for r in mart if tuple(r[c] for c in columns) == wanted]
    assert len(found) == 1, (wanted, found)
    return found[0]


def test_every_kpi_matches_the_hand_worked_values(mart):
    got = rolled_up(mart)
    assert sorted(got) == sorted(EXPECTED), "the mart's (kpi, month, region) differ"
    wrong = {}
    for key, (num, den, rate) in EXPECTED.items():
        n, d, r = got[key]
        if (
            (n, d) != (num, den)
            or (rate is None) != (r is None)
            or (rate is not None and r != pytest.approx(rate, abs=1e-12))
        ):
            wrong[key] = {"expected": (num, den, rate), "mart": (n, d, r)}
    assert not wrong, wrong


@pytest.mark.parametrize("kpi", [f"K{i}" for i in range(1, 23) if f"K{i}" not in ITEM_KPIS])
def test_each_kpi_city_row_is_the_sum_of_its_regions(mart, kpi):
    got = rolled_up(mart)
    for (k, month, region), (num, den, _) in got.items():
        if k != kpi or region != ALL:
            continue
        parts = [v for (k2, m2, r2), v in got.items() if (k2, m2) == (k, month) and r2 != ALL]
        assert (num, den) == (sum(p[0] for p in parts), sum(p[1] for p in parts))


def test_rate_is_null_exactly_when_the_denominator_is_zero(mart):
    for r in mart:
        if r["denominator"] == 0:
            assert r["rate"] is None, r
        else:
            assert r["rate"] == pytest.approx(r["numerator"] / r["denominator"]), r


def test_zero_denominator_rows_are_kept_with_a_null_rate(mart):
    # K3 region N in April: C25 (即办件 item, not high-frequency) is its only case.
    row = grain(mart, "K3", APR, N, "BM_MZ", "SX_JB0", "3")
    assert (row["numerator"], row["denominator"], row["rate"]) == (0, 0, None)
    # K9 at 市本级 in April: PJ02 is a good rating, so no rating needs rectification.
    row = grain(mart, "K9", APR, S, "BM_GA")
    assert (row["numerator"], row["denominator"], row["rate"]) == (0, 0, None)
    # K6 region N: H03 is still open (SFJJ null).
    row = grain(mart, "K6", APR, N, "help_desk")
    assert (row["numerator"], row["denominator"], row["rate"]) == (0, 0, None)
    # No help session in March, no rating outside April: no rows at all.
    assert not [r for r in mart if r["kpi_id"] in ("K6", "K7") and r["month"] != APR]
    assert not [r for r in mart if r["kpi_id"] in ("K8", "K9") and r["month"] != APR]


def test_same_day_rule_of_a_jiban_case(mart):
    # C05 (即办件, CNSX 0) accepted 04-08, done 04-09: late. C13 in the same grain is out
    # of K4 (D6: BJSJ < SLSJ).
    row = grain(mart, "K4", APR, Z, "BM_MZ", "SX_JB0", "1")
    assert (row["numerator"], row["denominator"]) == (0, 1)
    # C04 done the same day: on time. C12 in the same grain is out (D6: SLSJ < SQSJ).
    row = grain(mart, "K4", APR, Z, "BM_MZ", "SX_JB0", "3")
    assert (row["numerator"], row["denominator"]) == (1, 1)


def test_deadline_across_the_sunday_make_up_working_day(mart):
    # C07 (CNSX 3) accepted Fri 04-25, done Wed 04-30: Sun 04-27 is a 调休 working day, so
    # wd = 4 > 3: late (Monday–Friday counting would say 3, on time).
    row = grain(mart, "K4", APR, Z, "BM_RS", "SX_GP3", "2")
    assert (row["numerator"], row["denominator"], row["rate"]) == (0, 1, 0.0)
    # C06 (done Tue 04-29, wd 3: on time) and C18 (wd 9: late) share channel 1.
    row = grain(mart, "K4", APR, Z, "BM_RS", "SX_GP3", "1")
    assert (row["numerator"], row["denominator"]) == (1, 2)
    # C08 accepted 04-29, done 05-07 across the May holiday: wd 3, on time, in May.
    row = grain(mart, "K4", MAY, Z, "BM_RS", "SX_GP3", "3")
    assert (row["numerator"], row["denominator"]) == (1, 1)


def test_corrections_and_refusals_are_not_first_time_successes(mart):
    # C03 (BZCS 1) and C19 (BZCS 0) share the grain: 1 of 2.
    row = grain(mart, "K2", APR, Z, "BM_GA", "SX_GP5", "3")
    assert (row["numerator"], row["denominator"]) == (1, 2)
    # C09 refused (BJZT 4, SLSJ null): in the denominator, not the numerator.
    row = grain(mart, "K2", APR, Z, "BM_GA", "SX_GP5", "4")
    assert (row["numerator"], row["denominator"]) == (0, 1)
    # C09 filed at a kiosk: not online.
    row = grain(mart, "K1", APR, Z, "BM_GA", "SX_GP5", "4")
    assert (row["numerator"], row["denominator"]) == (0, 1)
    # 市本级: C22, C24 accepted, C23 refused.
    row = grain(mart, "K2", APR, S, "BM_MZ", "SX_JB0", "3")
    assert (row["numerator"], row["denominator"]) == (2, 3)


def test_rectification_on_working_day_15_counts_and_16_does_not(mart):
    # PJ04 rectified on Sun 04-27 (working day 15 after Mon 04-07), PJ05 on 04-28 (16).
    row = grain(mart, "K9", APR, Z, "BM_MZ")
    assert (row["numerator"], row["denominator"], row["rate"]) == (1, 2, 0.5)


def test_work_order_closed_one_second_after_its_deadline_is_late(mart):
    row = grain(mart, "K10", APR, Z, "U5")  # W03 alone
    assert (row["numerator"], row["denominator"], row["rate"]) == (0, 1, 0.0)
    # W02 (closed at its deadline), W08 (late), W09 (on time in its later version)
    row = grain(mart, "K10", APR, Z, "U1")
    assert (row["numerator"], row["denominator"]) == (2, 3)
    # W07 answered directly: on time although closed after its clqx.
    row = grain(mart, "K10", APR, S, "hotline")
    assert (row["numerator"], row["denominator"]) == (1, 1)


def test_city_level_region_sits_beside_the_city_total(mart):
    regions = {r["region_code"] for r in mart if r["kpi_id"] == "K1" and r["month"] == APR}
    assert regions == {Z, S, N, ALL}
    # 市本级 K1 in April: 2/5; the city row includes it: 17/27.
    assert rolled_up(mart)[("K1", APR, S)][:2] == (2, 5)
    assert rolled_up(mart)[("K1", APR, ALL)][:2] == (17, 27)
    # K13 YJS-2 belongs to 市本级 (its earliest case C28), not the city row only.
    row = grain(mart, "K13", MAR, S, "BM_MZ")
    assert (row["numerator"], row["denominator"]) == (0, 1)


# --- v2 (K14–K22) boundaries ---------------------------------------------------------------


def test_a_rating_in_a_later_month_counts_for_the_month_the_case_was_finished(mart):
    # C28 (市本级, 即办件) finished 03-31, rated 04-01 (PJ12): K14 of March.
    row = grain(mart, "K14", MAR, S, "BM_MZ", "SX_JB0", "3")
    assert (row["numerator"], row["denominator"]) == (1, 1)
    # C07 (finished 04-30) has no rating; C06 (rated 04-29, ZGZT null) has one.
    row = grain(mart, "K14", APR, Z, "BM_RS", "SX_GP3", "2")
    assert (row["numerator"], row["denominator"]) == (0, 1)
    row = grain(mart, "K14", APR, Z, "BM_RS", "SX_GP3", "1")  # C06 rated, C18 not
    assert (row["numerator"], row["denominator"]) == (1, 2)


def test_item_kpis_take_the_state_at_each_month_end(mart):
    # SX_CHG changed on 04-15: March end not fully online, CNSX 10, 2 visits; April end
    # fully online, 即办件, 0 visits. BM_GA also has SX_GP5 (online, CNSX 5, 0 visits).
    for kpi, march, april in (
        ("K15", (1, 2), (2, 2)),
        ("K16", (0, 2), (1, 2)),
        ("K17", (25, 40), (35, 40)),
        ("K18", (1, 2), (2, 2)),
    ):
        for month_start, expected in ((MAR, march), (APR, april)):
            row = grain(mart, kpi, month_start, ALL, "BM_GA", "ALL")
            assert (row["numerator"], row["denominator"]) == expected, (kpi, month_start)
    # BM_SC: SX_DEL (deleted 04-30 08:00) and SX_QTN (a version quarantined 04-20) are in
    # force at the end of March only: no BM_SC row after March.
    assert {r["month"] for r in mart if r["department"] == "BM_SC" and r["kpi_id"] == "K15"} == {
        MAR
    }
    # SX_NEW published 05-10 is in force at the end of May only (BM_RS: 1 of 2 online).
    row = grain(mart, "K15", MAY, ALL, "BM_RS", "ALL")
    assert (row["numerator"], row["denominator"]) == (1, 2)
    row = grain(mart, "K15", APR, ALL, "BM_RS", "ALL")
    assert (row["numerator"], row["denominator"]) == (1, 1)
    # no region: only city rows
    assert {r["region_code"] for r in mart if r["kpi_id"] in ITEM_KPIS} == {ALL}


def test_an_item_with_fdsx_0_is_out_of_the_compression_rate(mart):
    # BM_MZ: SX_JB0 (FDSX 20, CNSX 0) and SX_FD0 (FDSX 0): only SX_JB0 counts.
    row = grain(mart, "K17", APR, ALL, "BM_MZ", "ALL")
    assert (row["numerator"], row["denominator"], row["rate"]) == (20, 20, 1.0)
    # ... while SX_FD0 is an item in force for K15, K16, K18.
    row = grain(mart, "K16", APR, ALL, "BM_MZ", "ALL")
    assert (row["numerator"], row["denominator"]) == (2, 2)


def test_repeat_appeals_follow_the_30_day_window_and_same_second_calls(mart):
    # R2 exactly 30 days after R1: repeat. R4 30 days and 1 second after R3: not. R5 and R6
    # in the same second: neither. R7 another topic: not. R8 after R5/R6: repeat.
    row = grain(mart, "K22", APR, Z, "U9")
    assert (row["numerator"], row["denominator"]) == (2, 6)
    row = grain(mart, "K22", MAR, N, "U9")
    assert (row["numerator"], row["denominator"]) == (0, 2)
    # the new open orders leave K10–K12 as they were (no bjsj, sfjj, myd)
    row = grain(mart, "K10", APR, Z, "U9")
    assert (row["numerator"], row["denominator"]) == (0, 0)


def test_monitored_kpis_have_no_target_and_k22_is_better_lower(mart):
    targets = {r["kpi_id"]: (r["target"], r["better"]) for r in mart}
    assert targets["K19"] == (None, "higher")
    assert targets["K20"] == (None, "higher")
    assert targets["K22"][1] == "lower"
    assert float(targets["K22"][0]) == 0.10
    assert all(better == "higher" for k, (_, better) in targets.items() if k != "K22")


def test_offline_help_sessions_are_k21_only(mart):
    # H05 (Z, solved) and H09 (S, not solved) are offline; H11 (N) is still open.
    assert rolled_up(mart)[("K21", APR, N)] == (0, 0, None)
    assert rolled_up(mart)[("K6", APR, Z)][:2] == (4, 5)  # unchanged: offline is not K6
