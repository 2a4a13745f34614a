# Reference values for src/infer/mcmc/diagnostics.ts and summary.ts, from the R package
# `posterior` (Vehtari, Gelman, Simpson, Carpenter, Bürkner 2021: rank-normalised split R-hat,
# bulk/tail ESS, MCSE).
#
# Generates fixed draw sets (fixed seed) and writes the draws together with posterior's outputs,
# at full double precision (every number as sprintf("%.17g"), so they round-trip exactly), to
# test/infer/mcmc/fixtures/posterior-reference.json. Non-finite numbers are written as the
# strings "NA", "NaN", "Inf", "-Inf".
#
# Run from the repository root:   Rscript scripts/posterior-reference.R
# Needs: posterior (written against 1.4.0), jsonlite.

suppressPackageStartupMessages({
  library(posterior)
  library(jsonlite)
})

out_path <- "test/infer/mcmc/fixtures/posterior-reference.json"
set.seed(20240601)

# ---- draw sets: matrices iterations x chains (posterior's layout) ------------------------------

ar1 <- function(n_iter, n_chains, phi, shift = rep(0, n_chains)) {
  sapply(seq_len(n_chains), function(c) {
    x <- numeric(n_iter)
    x[1] <- rnorm(1)
    s <- sqrt(1 - phi^2)
    if (n_iter > 1) for (t in 2:n_iter) x[t] <- phi * x[t - 1] + s * rnorm(1)
    x + shift[c]
  })
}

sets <- list()
add <- function(name, x, note) {
  sets[[length(sets) + 1]] <<- list(name = name, note = note, x = x)
}

add("ar0_4x100", ar1(100, 4, 0), "iid normal (AR(1), phi = 0), 4 chains x 100")
add("ar05_4x100", ar1(100, 4, 0.5), "AR(1), phi = 0.5, 4 chains x 100")
add("ar095_4x100", ar1(100, 4, 0.95), "AR(1), phi = 0.95, 4 chains x 100")
add("ar0_2x1000", ar1(1000, 2, 0), "iid normal, 2 chains x 1000")
add("ar05_2x1000", ar1(1000, 2, 0.5), "AR(1), phi = 0.5, 2 chains x 1000")
add("ar095_2x1000", ar1(1000, 2, 0.95), "AR(1), phi = 0.95, 2 chains x 1000")
add("antithetic_4x100", ar1(100, 4, -0.7), "AR(1), phi = -0.7 (antithetic: ESS capped at S log10 S)")
add("shifted_4x100", ar1(100, 4, 0.3, shift = c(0, 0, 0, 2)), "AR(1) phi = 0.3, chain 4 shifted by +2 (R-hat >> 1)")
add("spread_4x100", ar1(100, 4, 0, shift = c(-0.3, -0.1, 0.1, 0.3)), "iid, chain means -0.3..0.3 (mild R-hat > 1)")
add("scale_4x100", sapply(c(1, 1, 1, 4), function(s) s * rnorm(100)), "iid, chain 4 has sd 4 (folded R-hat catches it)")
add("cauchy_4x100", matrix(rcauchy(400), 100, 4), "iid Cauchy, 4 chains x 100 (heavy tails)")
add("cauchy_2x1000", matrix(rcauchy(2000), 1000, 2), "iid Cauchy, 2 chains x 1000")
add("poisson_4x100", matrix(rpois(400, 2), 100, 4), "iid Poisson(2): many ties")
add("binary_4x100", matrix(rbinom(400, 1, 0.3), 100, 4), "iid Bernoulli(0.3): two values")
add("rounded_ar_4x250", round(ar1(250, 4, 0.8), 1), "AR(1) phi = 0.8 rounded to 0.1: ties")
add("odd_4x101", ar1(101, 4, 0.4), "AR(1) phi = 0.4, odd chain length (split drops the middle draw)")
add("odd_3x7", ar1(7, 3, 0.2), "3 chains x 7 (odd, short)")
add("one_chain_1x200", ar1(200, 1, 0.6), "single chain, 200 draws")
add("short_4x10", ar1(10, 4, 0.2), "4 chains x 10 (split halves of 5: Geyer loop never runs)")
add("short_4x12", ar1(12, 4, 0.2), "4 chains x 12")
add("short_4x6", ar1(6, 4, 0.2), "4 chains x 6 (split halves of 3: the minimum for ESS)")
add("short_4x5", ar1(5, 4, 0.2), "4 chains x 5 (split halves of 2: ESS is NA, R-hat defined)")
add("short_4x4", ar1(4, 4, 0.2), "4 chains x 4")
add("short_4x3", ar1(3, 4, 0.2), "4 chains x 3 (split halves of 1: everything NA)")
add("constant_4x50", matrix(1.5, 50, 4), "constant draws: NA")
mostly <- matrix(0, 100, 4); mostly[c(7, 130, 333)] <- 1
add("mostly_zero_4x100", mostly, "all 0 except three 1s (tail indicators constant)")
tiny <- 1 + matrix(rnorm(200), 50, 4) * 1e-17
add("subeps_4x50", tiny, "variation below double eps: treated as constant")
with_na <- ar1(50, 4, 0); with_na[10, 2] <- NA
add("na_4x50", with_na, "one NA draw")
with_inf <- ar1(50, 4, 0); with_inf[10, 2] <- Inf
add("inf_4x50", with_inf, "one +Inf draw")
with_nan <- ar1(50, 4, 0); with_nan[20, 3] <- NaN
add("nan_4x50", with_nan, "one NaN draw")

# ---- posterior's outputs -------------------------------------------------------------------------

probs <- c(0.05, 0.5, 0.95)
safe <- function(expr) tryCatch(suppressWarnings(expr), error = function(e) NA_real_)
unname_num <- function(v) as.numeric(unname(v))

results <- lapply(sets, function(s) {
  x <- s$x
  r <- list(
    rhat = safe(rhat(x)),
    rhat_basic = safe(rhat_basic(x)),
    rhat_basic_nosplit = safe(rhat_basic(x, split = FALSE)),
    ess_bulk = safe(ess_bulk(x)),
    ess_tail = safe(ess_tail(x)),
    ess_basic = safe(ess_basic(x)),
    ess_basic_nosplit = safe(ess_basic(x, split = FALSE)),
    ess_mean = safe(ess_mean(x)),
    ess_sd = safe(ess_sd(x)),
    ess_quantile = safe(unname_num(ess_quantile(x, probs))),
    mcse_mean = safe(mcse_mean(x)),
    mcse_sd = safe(mcse_sd(x)),
    mcse_quantile = safe(unname_num(mcse_quantile(x, probs))),
    quantile2 = safe(unname_num(quantile2(x, probs))),
    mean = safe(mean(x)),
    median = safe(median(x)),
    sd = safe(sd(x)),
    mad = safe(mad(x))
  )
  list(name = s$name, note = s$note, draws = lapply(seq_len(ncol(x)), function(c) x[, c]), posterior = r)
})

# summarise_draws on a draws_array holding several of the sets as variables (same shape 4 x 100).
summary_names <- c("ar0_4x100", "ar095_4x100", "shifted_4x100", "cauchy_4x100", "poisson_4x100")
arr <- simplify2array(lapply(summary_names, function(n) sets[[which(sapply(sets, `[[`, "name") == n)]]$x))
dimnames(arr) <- list(NULL, NULL, summary_names)
sd_tbl <- summarise_draws(as_draws_array(arr), default_summary_measures(), default_convergence_measures(),
                          mcse_mean = mcse_mean, mcse_sd = mcse_sd)
summary_rows <- lapply(seq_len(nrow(sd_tbl)), function(i) {
  row <- as.list(sd_tbl[i, ])
  c(list(variable = row$variable), lapply(row[-1], function(v) as.numeric(v)))
})
printed <- paste(capture.output(print(sd_tbl, n = 100, width = 200)), collapse = "\n")

# ---- a few internals, for direct checks ----------------------------------------------------------

ar05 <- sets[[2]]$x
internals <- list(
  z_scale_input = c(3, 1, 4, 1, 5, 9, 2, 6, 5, 3),
  z_scale = as.numeric(posterior:::z_scale(c(3, 1, 4, 1, 5, 9, 2, 6, 5, 3))),
  autocovariance_input = ar05[, 1],
  autocovariance = posterior:::autocovariance(ar05[, 1]),
  fold_then_split_rhat = safe(posterior:::.rhat(posterior:::z_scale(posterior:::.split_chains(posterior:::fold_draws(ar05))))),
  bulk_rhat = safe(posterior:::.rhat(posterior:::z_scale(posterior:::.split_chains(ar05)))),
  qbeta = lapply(list(c(0.1586553, 81, 21), c(0.8413447, 81, 21), c(0.1586553, 1.5, 1.5),
                      c(0.8413447, 5000.2, 263.3), c(0.1586553, 2, 1e4), c(0.5, 1, 1)),
                 function(p) list(p = p[1], a = p[2], b = p[3], q = qbeta(p[1], p[2], p[3]))),
  # the shapes mcse_quantile meets: ess * prob + 1, ess * (1 - prob) + 1 for ESS up to ~1e5
  qbeta_grid = lapply(seq_len(24), function(i) {
    ess <- 10^runif(1, 0.5, 5); prob <- runif(1, 0.01, 0.99); p <- c(0.1586553, 0.8413447)[1 + i %% 2]
    list(p = p, a = ess * prob + 1, b = ess * (1 - prob) + 1, q = qbeta(p, ess * prob + 1, ess * (1 - prob) + 1))
  }),
  qnorm = lapply(c(1e-300, 1e-20, 1e-5, 0.01, 0.02425, 0.1, 0.3, 0.425, 0.5, 0.575, 0.9, 0.975, 0.99999),
                 function(p) list(p = p, q = qnorm(p)))
)

# ---- hand-rolled JSON writer with exact doubles --------------------------------------------------

fmt_num <- function(v) {
  ifelse(is.nan(v), "\"NaN\"",
    ifelse(is.na(v), "\"NA\"",
      ifelse(is.infinite(v), ifelse(v > 0, "\"Inf\"", "\"-Inf\""), sprintf("%.17g", v))))
}
to_json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    parts <- vapply(x, to_json, character(1), indent = inner)
    if (!is.null(names(x)) && all(nzchar(names(x)))) {
      keys <- vapply(names(x), function(k) as.character(jsonlite::toJSON(k, auto_unbox = TRUE)), character(1))
      return(paste0("{\n", paste0(inner, keys, ": ", parts, collapse = ",\n"), "\n", indent, "}"))
    }
    return(paste0("[\n", paste0(inner, parts, collapse = ",\n"), "\n", indent, "]"))
  }
  if (is.character(x)) {
    s <- vapply(x, function(k) as.character(jsonlite::toJSON(k, auto_unbox = TRUE)), character(1))
    return(if (length(x) == 1) s else paste0("[", paste(s, collapse = ", "), "]"))
  }
  if (is.logical(x) && all(!is.na(x))) {
    s <- ifelse(x, "true", "false")
    return(if (length(x) == 1) s else paste0("[", paste(s, collapse = ", "), "]"))
  }
  v <- as.numeric(x)
  s <- fmt_num(v)
  if (length(v) == 1 && is.null(dim(x))) return(s)
  paste0("[", paste(s, collapse = ", "), "]")
}

doc <- list(
  generator = "scripts/posterior-reference.R",
  r_version = R.version.string,
  posterior_version = as.character(packageVersion("posterior")),
  seed = 20240601,
  probs = probs,
  sets = results,
  summary = list(variables = summary_names, rows = summary_rows, printed = printed),
  internals = internals
)
dir.create(dirname(out_path), recursive = TRUE, showWarnings = FALSE)
writeLines(to_json(doc), out_path)
cat("wrote", out_path, "(", length(results), "draw sets )\n")
