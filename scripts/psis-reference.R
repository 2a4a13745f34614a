# Reference values for src/infer/vi/psis.ts from the R package loo (psis with r_eff = 1).
# Run: Rscript scripts/psis-reference.R > test/infer/fixtures/psis-reference.json
suppressMessages(library(loo))
set.seed(20261202)
cases <- list()
add <- function(name, lw) {
  p <- suppressWarnings(psis(lw, r_eff = 1))
  cases[[length(cases) + 1]] <<- list(
    name = name, logRatios = lw, khat = unname(p$diagnostics$pareto_k),
    logWeights = as.numeric(weights(p, log = TRUE, normalize = TRUE))
  )
}
for (S in c(100, 1000)) {
  add(sprintf("normal S=%d", S), rnorm(S))
  for (k in c(0.3, 0.6, 0.9, 1.3)) add(sprintf("gpd k=%.1f S=%d", k, S), log((runif(S)^(-k) - 1) / k))
  add(sprintf("student-t(3) S=%d", S), 2 * rt(S, 3))
}
cat(jsonlite::toJSON(list(loo = as.character(packageVersion("loo")), cases = cases), digits = NA, auto_unbox = TRUE))
