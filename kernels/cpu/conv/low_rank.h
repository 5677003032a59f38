// How well can a 7x7 filter be replaced by a 7x1 after a 1x7 (Inception's factorisation)?
// A 1x7 then 7x1 chain applies the outer product v_col * v_row^T: a rank-1 matrix. The
// singular value decomposition W = sum_i sigma_i u_i v_i^T gives the best rank-r
// approximation (Eckart-Young), with relative error sqrt(sum_{i>r} sigma_i^2 / sum sigma_i^2).
// Rank r costs r such chains: 14r multiply-adds per pixel instead of 49.
#pragma once

#include <vector>

namespace flopslab::conv {

struct FilterSvd {
  int rows = 0, cols = 0;
  std::vector<double> sigma;  // singular values, descending (min(rows, cols) of them)
  std::vector<double> u;      // rows x min(rows, cols), column i is u_i
  std::vector<double> v;      // cols x min(rows, cols), column i is v_i

  // The best rank-r approximation, rows x cols row-major.
  std::vector<double> approximate(int rank) const;
  // ||W - W_r||_F / ||W||_F (0 for r >= the rank of W).
  double relative_error(int rank) const;
  // The rank-1 chain: a column filter (rows x 1) and a row filter (1 x cols), the scale
  // split evenly, whose outer product is approximate(1).
  std::vector<double> column_filter() const;
  std::vector<double> row_filter() const;
};

// One-sided Jacobi SVD of a small rows x cols row-major matrix, in double precision.
FilterSvd filter_svd(const std::vector<double>& w, int rows, int cols);

// Classic hand-made filters that first-layer CNN filters resemble (size x size, row-major):
// a Gaussian (separable, rank 1), a Laplacian of Gaussian (a blob detector, rank 2), and a
// Gabor filter (an oriented edge/texture detector; not separable unless axis-aligned).
std::vector<double> gaussian_filter(int size, double sigma);
std::vector<double> laplacian_of_gaussian_filter(int size, double sigma);
std::vector<double> gabor_filter(int size, double theta_radians, double wavelength, double sigma);

}  // namespace flopslab::conv
