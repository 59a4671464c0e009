SELECT yeer(timestamp) FROM geo
