// The console's one script, served from /static/console.js (the console's
// Content-Security-Policy allows scripts from the broker itself only, none
// inline). Copy buttons, hidden until this runs, put the value of the field
// they name on the clipboard; without the script the field can be selected.
document.querySelectorAll('button[data-copy]').forEach((button) => {
  button.hidden = false;
  button.addEventListener('click', () => {
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    navigator.clipboard.writeText(field.value).then(() => {
      button.textContent = button.dataset.copied;
    });
  });
});
