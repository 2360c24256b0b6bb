# Reference for the GRADE publication-bias proposal: Egger's regression test (metafor regtest,
# model "rma", predictor "sei", REML) on twelve made-up local-control counts (a test fixture,
# not data of any study). Run: Rscript egger_ref.R  (writes egger_ref.csv)
library(metafor)
d <- data.frame(study = as.character(1:12),
                xi = c(30, 5, 6, 23, 18, 40, 9, 12, 27, 8, 15, 33),
                ni = c(31, 7, 10, 28, 20, 45, 15, 13, 30, 14, 16, 36))
e <- escalc("PLO", xi = xi, ni = ni, data = d)
f <- rma(yi, vi, data = e, method = "REML")
r <- regtest(f, model = "rma", predictor = "sei")
out <- data.frame(study = d$study, xi = d$xi, ni = d$ni,
                  regtest_p = sprintf("%.15g", r$pval), regtest_z = sprintf("%.15g", r$zval),
                  metafor = as.character(packageVersion("metafor")))
write.csv(out, "egger_ref.csv", row.names = FALSE, quote = FALSE)
