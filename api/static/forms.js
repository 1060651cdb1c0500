// Forms of the enrolment pages: when the server sends a form back with problems, the summary of
// them takes the focus, so keyboard and screen-reader users start there (each links to its field).
(function () {
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
