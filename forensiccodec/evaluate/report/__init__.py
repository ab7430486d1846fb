"""`fcc eval`: every setting (uncompressed, learned codecs, JPEG/WebP) on a labelled split,
measured with the detector, PSNR and a Fréchet distance, written as report.json, plots and
report.md. Entry point: :func:`forensiccodec.evaluate.report.run.run_evaluation`.
"""
