"""Cameras: Basler (pypylon), OpenCV (UVC cameras and recorded video files).

``basler`` grabs from Basler cameras (settings and node handling in ``basler_config``),
``opencv_camera`` from UVC/USB cameras, ``video_file`` from recorded videos (timing checks in
``video_timing``). ``frame_counter`` turns raw camera frame numbers into indices and gaps.
Set-up, keys and error states for technicians: ``docs/cameras.md``.
"""
