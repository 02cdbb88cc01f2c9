"""Cameras: Basler (pypylon), OpenCV (UVC and video files)."""
