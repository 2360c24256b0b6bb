# GLMM edge cases and more sensitivity/bias diagnostics from R metafor (Debian r-cran-metafor 3.8-1,
# r-cran-lme4 1.1-31). Complements make_glmm_diag_refs.R (the shared references).
# Usage: Rscript make_glmm_diag_edge_refs.R OUTDIR   (OUTDIR holds pritz1997.csv, bcg.csv, comp.csv,
#        full.csv, k2.csv, mr.csv, sg.csv from make_metafor_refs.R / make_metafor_edge_refs.R)
# Writes glmm_hom.csv (made-up: 4 proportions with the same rate, tau^2 = 0; not study data) and:
#   glmm_edge_ref.csv        rma.glmm(measure="PLO", method="ML") per data set, z and t, plus Laplace (nAGQ=1,
#                            tight PIRLS tolerance)
#   glmm_leave1out_ref.csv   rma.glmm refitted without each study (metafor has no leave1out for rma.glmm)
#   diagnostics_edge_ref.csv leave1out / cumul of a PLO model with Knapp-Hartung, regtest (knha, vi, FE),
#                            trimfill (REML with L0 and R0) and baujat of the BCG model, influence of a
#                            meta-regression (BCG ~ ablat); long format: analysis, study, statistic, value
suppressMessages(library(metafor))
args <- commandArgs(TRUE); out <- if (length(args)) args[1] else "."
rd <- function(f) read.csv(file.path(out, f))
hom <- data.frame(study = paste0("H", 1:4), events = c(10, 20, 30, 41), total = c(50, 100, 150, 200))
write.csv(hom, file.path(out, "glmm_hom.csv"), row.names = FALSE)
sets <- list(pritz = rd("pritz1997.csv"), comp = rd("comp.csv"), full = rd("full.csv"), k2 = rd("k2.csv"),
             mr = rd("mr.csv"), sg = rd("sg.csv"), hom = hom)
na <- function(x) if (is.null(x) || length(x) == 0) NA else x
g <- list()
for (nm in names(sets)) for (tst in c("z", "t")) {
  d <- sets[[nm]]
  m <- rma.glmm(measure = "PLO", xi = d$events, ni = d$total, method = "ML", test = tst)
  p <- predict(m, transf = transf.ilogit)
  g[[length(g) + 1]] <- data.frame(case = paste0(nm, "_", tst), data = nm, test = tst, nagq = 7, k = m$k,
    estimate_logit = as.numeric(coef(m)), se = m$se, ci_low_logit = m$ci.lb, ci_high_logit = m$ci.ub,
    estimate = p$pred, ci_low = p$ci.lb, ci_high = p$ci.ub, pi_low = na(p$pi.lb), pi_high = na(p$pi.ub),
    tau2 = m$tau2, I2 = m$I2, H2 = m$H2, QE_LRT = m$QE.LRT, QE_LRT_p = m$QEp.LRT)
}
# Laplace (nAGQ = 1): with lme4's default PIRLS tolerance (tolPwrss = 1e-7) glmer stops about 6e-4 short of
# the Laplace optimum in this example (its own deviance function, evaluated with a tight tolerance, is lower
# at the optimum), so this case sets tolPwrss = 1e-13; 7-node AGQ is not affected.
m <- rma.glmm(measure = "PLO", xi = sets$pritz$events, ni = sets$pritz$total, method = "ML", nAGQ = 1,
              control = list(glmerCtrl = list(tolPwrss = 1e-13)))
p <- predict(m, transf = transf.ilogit)
g[[length(g) + 1]] <- data.frame(case = "pritz_laplace_z", data = "pritz", test = "z", nagq = 1, k = m$k,
  estimate_logit = as.numeric(coef(m)), se = m$se, ci_low_logit = m$ci.lb, ci_high_logit = m$ci.ub,
  estimate = p$pred, ci_low = p$ci.lb, ci_high = p$ci.ub, pi_low = na(p$pi.lb), pi_high = na(p$pi.ub),
  tau2 = m$tau2, I2 = m$I2, H2 = m$H2, QE_LRT = m$QE.LRT, QE_LRT_p = m$QEp.LRT)
write.csv(do.call(rbind, g), file.path(out, "glmm_edge_ref.csv"), row.names = FALSE)

# GLMM leave-one-out: Pritz 1997 and the k = 2 set cannot (k - 1 = 1), so Pritz and mr
l <- list()
for (nm in c("pritz", "mr")) {
  d <- sets[[nm]]
  for (i in seq_len(nrow(d))) {
    m <- rma.glmm(measure = "PLO", xi = d$events[-i], ni = d$total[-i], method = "ML")
    l[[length(l) + 1]] <- data.frame(data = nm, study = d$study[i], estimate_logit = as.numeric(coef(m)),
                                     se = m$se, tau2 = m$tau2, I2 = m$I2)
  }
}
write.csv(do.call(rbind, l), file.path(out, "glmm_leave1out_ref.csv"), row.names = FALSE)

long <- list()
put <- function(analysis, study, df) {
  for (s in names(df)) long[[length(long) + 1]] <<- data.frame(analysis = analysis, study = study, statistic = s,
                                                                 value = as.numeric(df[[s]]))
}
# leave-one-out and cumulative of a PLO REML model with Knapp-Hartung (mr.csv, ordered by age)
mr <- sets$mr
e <- escalc("PLO", xi = events, ni = total, data = mr)
fk <- rma(yi, vi, data = e, method = "REML", test = "knha", slab = study)
l1 <- leave1out(fk)
put("leave1out_mr_PLO_REML_knha", mr$study, data.frame(estimate = l1$estimate, se = l1$se, pval = l1$pval,
    ci_low = l1$ci.lb, ci_high = l1$ci.ub, tau2 = l1$tau2, I2 = l1$I2, Q = l1$Q))
cu <- cumul(fk, order = mr$age)
put("cumul_mr_PLO_REML_knha_by_age", cu$slab, data.frame(estimate = cu$estimate, se = cu$se, ci_low = cu$ci.lb,
    ci_high = cu$ci.ub, tau2 = cu$tau2, I2 = cu$I2, Q = cu$Q))
inf <- influence(fk)$inf
put("influence_mr_PLO_REML_knha", mr$study, data.frame(rstudent = inf$rstudent, dffits = inf$dffits,
    cook_d = inf$cook.d, cov_r = inf$cov.r, tau2_del = inf$tau2.del, QE_del = inf$QE.del, hat = inf$hat,
    weight = inf$weight))
# BCG: influence of a meta-regression, regtest variants, trimfill with REML, baujat
bcg <- rd("bcg.csv")
mreg <- rma(yi, vi, mods = ~ ablat, data = bcg, method = "REML", slab = study)
ir <- influence(mreg)
put("influence_bcg_ablat_REML", bcg$study, data.frame(rstudent = ir$inf$rstudent, dffits = ir$inf$dffits,
    cook_d = ir$inf$cook.d, cov_r = ir$inf$cov.r, tau2_del = ir$inf$tau2.del, QE_del = ir$inf$QE.del,
    hat = ir$inf$hat, weight = ir$inf$weight, dfbs_intrcpt = ir$dfbs$intrcpt, dfbs_ablat = ir$dfbs$ablat,
    influential = as.numeric(ir$is.infl)))
m <- rma(yi, vi, data = bcg, method = "REML", slab = study)
for (v in list(list("regtest_bcg_REML_knha_sei", rma(yi, vi, data = bcg, method = "REML", test = "knha"), "sei"),
               list("regtest_bcg_REML_vi", m, "vi"), list("regtest_bcg_FE_sei", rma(yi, vi, data = bcg, method = "FE"), "sei"))) {
  r <- regtest(v[[2]], model = "rma", predictor = v[[3]])
  put(v[[1]], "", data.frame(zval = r$zval, pval = r$pval, estimate = r$est, ci_low = r$ci.lb, ci_high = r$ci.ub))
}
for (est in c("L0", "R0")) {
  tf <- trimfill(m, estimator = est)
  put(paste0("trimfill_bcg_REML_", est), "", data.frame(k0 = tf$k0, estimate = as.numeric(coef(tf)), se = tf$se,
      ci_low = tf$ci.lb, ci_high = tf$ci.ub, tau2 = tf$tau2, side_right = as.numeric(tf$side == "right")))
}
# trim and fill on the left side: the BCG effects with the sign flipped
tf <- trimfill(rma(-yi, vi, data = bcg, method = "FE"))
put("trimfill_bcg_flipped_FE_L0", "", data.frame(k0 = tf$k0, estimate = as.numeric(coef(tf)), ci_low = tf$ci.lb,
    ci_high = tf$ci.ub, side_right = as.numeric(tf$side == "right")))
b <- baujat(m)
put("baujat_bcg_REML", bcg$study, data.frame(x = b$x, y = b$y))
dev.off()
write.csv(do.call(rbind, long), file.path(out, "diagnostics_edge_ref.csv"), row.names = FALSE)
cat("metafor", as.character(packageVersion("metafor")), "lme4", as.character(packageVersion("lme4")), "\n")
