# Exact (Clopper-Pearson) 95% confidence intervals of a proportion, from R's binom.test,
# the reference for `review search check`'s recall interval (tests/test_search_check.py).
# Run: Rscript make_clopper_pearson_refs.R  (writes clopper_pearson_ref.csv here)
cases <- data.frame(k = c(5, 0, 7, 18, 45, 1, 3, 0), n = c(6, 3, 7, 20, 50, 1, 4, 1))
cases$low <- NA
cases$high <- NA
for (i in seq_len(nrow(cases))) {
  ci <- binom.test(cases$k[i], cases$n[i], conf.level = 0.95)$conf.int
  cases$low[i] <- ci[1]
  cases$high[i] <- ci[2]
}
write.csv(cases, "clopper_pearson_ref.csv", row.names = FALSE)
