// placeholder while in progress
