# Cumulative meta-analysis in order of review version, then year: the reference for
# tests/test_living_cumulative.py. Made-up counts (not study data) for five studies, three of
# the original review (version 0) and two found by update 1; study 4 is older than two of the
# original studies, so "version, then year" and "year" give different orders.
# Run: Rscript make_cumulative_ref.R  (metafor 3.8-1, Debian r-cran-metafor; writes here)
library(metafor)
dat <- data.frame(study = c("S1", "S2", "S3", "S4", "S5"),
                  version = c(0, 0, 0, 1, 1),
                  year = c(2018, 2015, 2020, 2016, 2023),
                  xi = c(30, 6, 23, 18, 40), ni = c(31, 10, 28, 20, 45))
write.csv(dat, "cumulative_data.csv", row.names = FALSE)
es <- escalc(measure = "PLO", xi = xi, ni = ni, data = dat)
res <- rma(yi, vi, data = es, method = "REML")
# cumul sorts by the variable given as `order` (version first, then year within it)
cm <- cumul(res, order = dat$version * 10000 + dat$year, transf = transf.ilogit)
out <- data.frame(study = dat$study[order(dat$version, dat$year)], k = seq_len(nrow(dat)),
                  estimate = cm$estimate, ci_low = cm$ci.lb, ci_high = cm$ci.ub,
                  tau2 = cm$tau2, I2 = cm$I2)
write.csv(out, "cumulative_ref.csv", row.names = FALSE)
