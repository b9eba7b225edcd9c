import './style.css';

document.getElementById('app').textContent = 'Gromo Demand Analyzer';
