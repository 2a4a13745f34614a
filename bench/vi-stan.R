# bench/vi.ts peer: Stan's ADVI (rstan::vb, meanfield and fullrank) on the galaxy mixture
# (../shared/bench/models/galaxy_mix.stan), from the shared initial values of chain 1.
# Usage: Rscript bench/vi-stan.R --K 3 --seed 20240611 --shared ../shared/bench
# Prints one JSON line: compile_s and, per algorithm, wall seconds, whether it converged and the
# means of mu, sigma, w over 4000 guide draws.
args <- commandArgs(trailingOnly = TRUE)
get_arg <- function(name, default) { i <- which(args == paste0("--", name)); if (length(i)) args[i[1] + 1] else default }
K <- as.integer(get_arg("K", "3")); seed <- as.integer(get_arg("seed", "20240611"))
shared <- get_arg("shared", "../shared/bench")
suppressPackageStartupMessages({ library(rstan); library(MASS); library(jsonlite) })
rstan_options(auto_write = FALSE)
if (!nzchar(system.file("include", package = "BH")) && dir.exists("/usr/include/boost")) {
  bdir <- file.path(tempdir(), "boost_include"); dir.create(bdir, showWarnings = FALSE)
  if (!file.exists(file.path(bdir, "boost"))) file.symlink("/usr/include/boost", file.path(bdir, "boost"))
  rstan_options(boost_lib = bdir)
}
now <- function() proc.time()[["elapsed"]]
y <- MASS::galaxies / 1000
t0 <- now()
sm <- stan_model(model_code = paste(readLines(file.path(shared, "models", "galaxy_mix.stan")), collapse = "\n"),
                 model_name = "galaxy_mix", save_dso = FALSE, auto_write = FALSE)
out <- list(rstan = as.character(packageVersion("rstan")), compile_s = now() - t0)
ini <- fromJSON(file.path(Sys.getenv("BENCH_DATA", "/tmp/peers_bench"), sprintf("galaxy_inits_K%d.json", K)), simplifyVector = FALSE)[[1]]
init <- list(mu = as.array(unlist(ini$mu)), sigma = as.array(unlist(ini$sigma)), w = as.array(unlist(ini$w)))
for (alg in c("meanfield", "fullrank")) {
  t0 <- now()
  log <- capture.output(fit <- vb(sm, data = list(N = length(y), K = K, y = y), algorithm = alg, seed = seed,
                                  init = init, tol_rel_obj = 0.01, output_samples = 4000, refresh = 100), type = "output")
  wall <- now() - t0
  m <- function(p) unname(colMeans(as.matrix(fit, pars = p)))
  out[[alg]] <- list(wall_s = wall, converged = any(grepl("CONVERGED", log)),
                     means = list(mu = m("mu"), sigma = m("sigma"), w = m("w")))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
