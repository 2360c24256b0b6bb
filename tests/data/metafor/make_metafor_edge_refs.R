# Edge-case reference values from R metafor (Debian r-cran-metafor) for the pooling module.
# Usage: Rscript make_metafor_edge_refs.R OUTDIR
#
# Makes, in OUTDIR: the constructed inputs comp.csv, full.csv, k2.csv, hom.csv, mr.csv, sg.csv
# (made-up edge cases, not study data; see README.md) and metafor's results on them:
#   edge_ref.csv  intercept-only models, one row per case (case = DATA_MEASURE_METHOD[_knha][_l90])
#   mr_ref.csv    meta-regressions of a proportion, one row per coefficient
#   sg_ref.csv    per-subgroup REML fits (z and Knapp-Hartung) and the test of subgroup differences
# tests/test_pooling_metafor_edge.py reproduces every number.
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE); out <- if (length(args)) args[1] else "."
dir.create(out, showWarnings = FALSE, recursive = TRUE)
put <- function(df, name) write.csv(df, file.path(out, name), row.names = FALSE)

# One row of edge_ref.csv; back = the back-transformation to the proportion scale (none: NULL).
# pi_low/pi_high are NA for fixed-effect models (metafor gives no prediction interval).
rows <- list()
add <- function(case, fit, back = NULL, ...) {
  p <- predict(fit, transf = back, ...)
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, k = fit$k, estimate = as.numeric(p$pred)[1], ci_low = as.numeric(p$ci.lb)[1],
    ci_high = as.numeric(p$ci.ub)[1],
    pi_low = if (is.null(p$pi.lb)) NA else as.numeric(p$pi.lb)[1],
    pi_high = if (is.null(p$pi.ub)) NA else as.numeric(p$pi.ub)[1],
    est_model_scale = as.numeric(fit$beta[1]), se = fit$se[1], tau2 = fit$tau2, I2 = fit$I2,
    H2 = fit$H2, Q = fit$QE, Q_p = fit$QEp)
}
# A proportion model of measure PLO/PR/PFT with metafor's own back-transformation
# (PLO: inverse logit; PFT: inverse Freeman-Tukey at the harmonic mean of the study sizes).
# escalc's defaults apply: add = 1/2 to the cells of studies with 0 or n events (to = "only0")
# for PLO and PR, no correction for PFT.
add_prop <- function(case, d, measure, ...) {
  e <- escalc(measure, xi = events, ni = total, data = d)
  f <- rma(yi, vi, data = e, ...)
  if (measure == "PLO") add(case, f, transf.ilogit)
  else if (measure == "PFT") add(case, f, transf.ipft.hm, targs = list(ni = d$total))
  else add(case, f)
}

# --- zero-event-heavy complication rates: 4 of 7 studies with 0 events ---
comp <- data.frame(study = paste0("S", 1:7), events = c(0, 1, 0, 2, 0, 0, 3),
                   total = c(14, 23, 31, 105, 16, 41, 60))
put(comp, "comp.csv")
for (m in c("REML", "DL", "PM", "ML", "FE")) for (meas in c("PLO", "PR", "PFT"))
  add_prop(paste0("comp_", meas, "_", m), comp, meas, method = m)
for (meas in c("PLO", "PR", "PFT")) for (m in c("REML", "DL"))
  add_prop(paste0("comp_", meas, "_", m, "_knha"), comp, meas, method = m, test = "knha")
# level 90 (CI and PI at 90%)
add_prop("comp_PLO_REML_l90", comp, "PLO", method = "REML", level = 90)

# --- all-event studies: proportion 1 in 3 of 5 studies ---
full <- data.frame(study = paste0("F", 1:5), events = c(10, 12, 7, 20, 9), total = c(10, 12, 8, 20, 11))
put(full, "full.csv")
for (m in c("REML", "DL")) for (meas in c("PLO", "PFT", "PR"))
  add_prop(paste0("full_", meas, "_", m), full, meas, method = m)

# --- k = 2 (Knapp-Hartung with 1 df; for FE, metafor warns that Knapp-Hartung is not meant for
#     FE models and applies it) ---
k2 <- data.frame(study = c("A", "B"), events = c(5, 30), total = c(20, 40))
put(k2, "k2.csv")
for (m in c("REML", "DL", "PM", "ML", "FE")) {
  add_prop(paste0("k2_PLO_", m), k2, "PLO", method = m)
  add_prop(paste0("k2_PLO_", m, "_knha"), k2, "PLO", method = m, test = "knha")
}

# --- homogeneous generic effects: every estimator at the tau2 = 0 boundary ---
hom <- data.frame(study = paste0("H", 1:6), yi = c(0.10, 0.12, 0.11, 0.09, 0.105, 0.115),
                  vi = c(0.01, 0.02, 0.015, 0.012, 0.03, 0.018))
put(hom, "hom.csv")
for (m in c("REML", "DL", "PM", "ML")) {
  add(paste0("hom_GEN_", m), rma(yi, vi, data = hom, method = m))
  add(paste0("hom_GEN_", m, "_knha"), rma(yi, vi, data = hom, method = m, test = "knha"))
}
put(do.call(rbind, rows), "edge_ref.csv")

# --- meta-regression of a proportion on study-level moderators (one zero-event study) ---
mr <- data.frame(study = paste0("M", 1:8), events = c(30, 5, 23, 12, 0, 18, 9, 40),
                 total = c(31, 7, 28, 20, 6, 25, 15, 44), age = c(53, 54.5, 61, 59.7, 58.1, 63, 50, 66),
                 grp = c("a", "b", "a", "c", "b", "c", "a", "b"))
put(mr, "mr.csv")
long <- function(case, f) data.frame(
  case = case, term = rownames(f$beta), estimate = as.numeric(f$beta), se = f$se, pval = f$pval,
  ci_low = f$ci.lb, ci_high = f$ci.ub, tau2 = f$tau2, I2 = f$I2, QM = f$QM, QM_p = f$QMp,
  QE = f$QE, QE_p = f$QEp, R2 = if (is.null(f$R2)) NA else f$R2)
plo <- escalc("PLO", xi = events, ni = total, data = mr)
pft <- escalc("PFT", xi = events, ni = total, data = mr)
put(rbind(long("mr_PLO_age_REML", rma(yi, vi, mods = ~ age, data = plo, method = "REML")),
          long("mr_PLO_age_REML_knha", rma(yi, vi, mods = ~ age, data = plo, method = "REML", test = "knha")),
          long("mr_PLO_age_DL", rma(yi, vi, mods = ~ age, data = plo, method = "DL")),
          long("mr_PLO_grp_REML", rma(yi, vi, mods = ~ factor(grp), data = plo, method = "REML")),
          long("mr_PFT_age_REML", rma(yi, vi, mods = ~ age, data = pft, method = "REML")),
          long("mr_PLO_age_grp_ML", rma(yi, vi, mods = ~ age + factor(grp), data = plo, method = "ML")),
          long("mr_PLO_age_PM", rma(yi, vi, mods = ~ age, data = plo, method = "PM"))),
    "mr_ref.csv")

# --- subgroups, two of them with k = 1 (metafor then uses test = "z" even when asked for knha;
#     the column ftest records the test it used) ---
sg <- data.frame(study = paste0("G", 1:6), events = c(30, 5, 23, 12, 0, 18), total = c(31, 7, 28, 20, 6, 25),
                 design = c("retro", "pro", "retro", "retro", "retro", "retro2"))
put(sg, "sg.csv")
e <- escalc("PLO", xi = events, ni = total, data = sg)
subs <- list()
for (tst in c("z", "knha")) {
  sub <- do.call(rbind, lapply(split(e, e$design), function(s) {
    f <- suppressWarnings(rma(yi, vi, data = s, method = "REML", test = tst))
    p <- predict(f, transf = transf.ilogit)
    data.frame(test = tst, subgroup = s$design[1], k = f$k, estimate = p$pred, ci_low = p$ci.lb,
               ci_high = p$ci.ub, pi_low = p$pi.lb, pi_high = p$pi.ub, est_model_scale = f$b[1],
               se = f$se, tau2 = f$tau2, I2 = f$I2, Q = f$QE, Q_p = f$QEp, method = f$method,
               ftest = f$test)
  }))
  # test of subgroup differences: fixed-effect Q between the subgroup estimates (model scale)
  fe <- rma(est_model_scale, sei = se, data = sub, method = "FE")
  sub$Q_between <- fe$QE; sub$Q_between_p <- fe$QEp
  subs[[tst]] <- sub
}
put(do.call(rbind, subs), "sg_ref.csv")
cat("metafor", as.character(packageVersion("metafor")), "\n")
