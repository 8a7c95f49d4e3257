# Sourced by the GPU scripts: makes a bare GPU machine's python3 (which has CUDA torch but none of this project's
# other packages, and no network) able to run the project from this checkout.
#  - .whl/: wheels for the missing packages (stable-baselines3, gymnasium, gymnasium-robotics, mujoco and their
#    small dependencies), downloaded on a machine with pip for the GPU machine's Python; installed into /tmp/site.
#  - .gl/: the GL/EGL loader .debs MuJoCo's EGL renderer needs, unpacked into /.
# Both folders are ignored by git (.git/info/exclude) and travel with the device tool's `carry`.
if [ -d .gl ]; then
    for deb in .gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
fi
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "device_env: installing .whl/ failed" >&2; return 2; }
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONUNBUFFERED=1
vendor=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$vendor" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES=$vendor; fi
