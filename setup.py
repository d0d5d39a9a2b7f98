from setuptools import setup
setup(cffi_modules=["backends/c_build.py:make_builder"])
