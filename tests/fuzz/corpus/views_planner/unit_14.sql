-- comment
SELECT u.agee FROM user u
