// A stand-in for the opt-in GEMM peers' libraries (oneMKL's libmkl_rt, scipy-openblas32), so
// that the tests check the loader without them: it exports their version and threading
// functions with made-up answers, and (unless built with FAKE_PEER_NO_SGEMM) their sgemm.
// FAKE_PEER_MKL_MAJOR sets the oneMKL version it claims.
#include <cstdint>

namespace {
int threading_layer = -1;
}

extern "C" {

struct MklVersion {
  int major, minor, update, patch;
  const char *product_status, *build, *processor, *platform;
};
void MKL_Get_Version(MklVersion* v) {
  if (threading_layer == -1) threading_layer = 0;
  *v = {FAKE_PEER_MKL_MAJOR, 0, 7, 3, "Product", "20990101", "Fake(R) AVX2 code path", "Intel(R) 64 architecture"};
}
// Like oneMKL, the first call of any other function fixes the layer (to Intel's, 0).
int MKL_Set_Threading_Layer(int layer) { return threading_layer = threading_layer == -1 ? layer : threading_layer; }
int MKL_Set_Num_Threads_Local(int) { return 0; }
// What the loader chose: the test reads it back.
int fake_peer_threading_layer() { return threading_layer; }

const char* scipy_openblas_get_config() { return "OpenBLAS 0.3.99 DYNAMIC_ARCH NO_AFFINITY Fakecore MAX_THREADS=8"; }
const char* scipy_openblas_get_corename() { return "Fakecore"; }
void scipy_openblas_set_num_threads(int) {}

#ifndef FAKE_PEER_NO_SGEMM
// Row-major, no transposes: all the loader's callers pass.
static void sgemm(int, int, int, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                  float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float sum = 0;
      for (int p = 0; p < k; ++p) sum += a[i * lda + p] * b[p * ldb + j];
      c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j]);
    }
}
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc) {
  sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void scipy_cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                       const float* b, int ldb, float beta, float* c, int ldc) {
  sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif
}
