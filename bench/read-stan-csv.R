# Reads Stan CSV files (one per chain, e.g. written by mixppl's writeCmdStanCsv) with
# rstan::read_stan_csv and prints each parameter's posterior mean, one per line as
# `name mean`, using rstan's bracketed names (Sigma[2,1]). Checks that the files are
# readable by rstan; the column order and shapes come from rstan's own parser.
#
#   Rscript bench/read-stan-csv.R output_1.csv [output_2.csv ...]
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) {
  stop("usage: Rscript bench/read-stan-csv.R FILE.csv [FILE.csv ...]", call. = FALSE)
}
missing <- args[!file.exists(args)]
if (length(missing) > 0) stop("no such file: ", paste(missing, collapse = ", "), call. = FALSE)
suppressPackageStartupMessages(library(rstan))

fit <- rstan::read_stan_csv(args)
draws <- as.matrix(fit) # iterations (all chains) x flat parameters, lp__ last
means <- colMeans(draws)
cat(sprintf("# chains = %d, draws per chain = %d, parameters = %s\n",
            fit@sim$chains, fit@sim$n_save[1] - fit@sim$warmup2[1],
            paste(fit@model_pars, collapse = " ")))
dims <- vapply(fit@model_pars, function(p) {
  d <- fit@par_dims[[p]]
  paste0(p, "=", if (length(d) == 0) "scalar" else paste(d, collapse = "x"))
}, character(1))
cat("# dims:", dims, "\n")
for (nm in names(means)) cat(sprintf("%s %.6g\n", nm, means[[nm]]))
