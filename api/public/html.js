// Text from the data (checkpoint codes and names, plates, brands, provinces) must never become
// markup. Pages set it with textContent; where HTML has to be built as a string (ECharts tooltip
// formatters return HTML), every data-derived piece goes through escapeHtml.
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
