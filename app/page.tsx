export default function Home() {
  return <main><h1>Airlock</h1></main>;
}
